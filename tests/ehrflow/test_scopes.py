"""SMART scopes against the test EHR: what is asked per adapter, a narrower grant, and the public JWKS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.db import outbox_repo
from app.db.models import Outbox
from app.fhir.auth import BackendServicesConfig, SmartBackendAuth
from app.fhir.keys import generate_keys, load_signing_key
from app.worker.outbox import OutboxDispatcher
from tests.ehrflow.harness import CLIENT_ID, EHR_NAME, Flow, running_flow
from tests.spine.helpers import ADMIN

CB = "https://claimbridge.test"
#: What an administrator might grant a "read-only plus subscriptions" client: no ClaimResponse write
#: (Tasks and the orders' coverage information, as prior-authorization alerts write them, granted).
NARROW = "system/*.rs system/Subscription.cruds system/Task.crus system/ServiceRequest.ru system/MedicationRequest.ru"


def claim_response(value: str) -> dict:
    return {
        "resourceType": "ClaimResponse",
        "identifier": [{"system": "urn:claimbridge:claim-response", "value": value}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "claim",
        "patient": {"reference": "Patient/p1"},
        "created": "2026-12-01",
        "insurer": {"display": "Payer"},
        "outcome": "complete",
    }


def enqueue_claim_response(flow: Flow, value: str) -> int:
    with flow.services.engine.begin() as conn:
        return outbox_repo.enqueue(
            conn,
            destination=f"ehr:{EHR_NAME}",
            kind="claim-response",
            key=f"cr-{value}",
            payload=claim_response(value),
            now=flow.clock.now(),
        )


def outbox_row(flow: Flow, row_id: int) -> Outbox:
    with flow.services.engine.connect() as conn:
        return conn.execute(select(Outbox).where(Outbox.id == row_id)).one()


def ehrs_list(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", db_url)
    monkeypatch.setenv("CLAIMBRIDGE_ADAPTERS__OUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("CLAIMBRIDGE_REFDATA_DIR", str(tmp_path / "refdata"))
    result = CliRunner().invoke(cli, ["ehrs", "list", "--json"])
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    return dict(row)


async def test_ehr_write_back_asks_for_claim_response_scopes(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, adapters={"writeback": "ehr"}) as flow:
        asked = flow.ehr.tokens.asked[0].split()
        assert {"system/ClaimResponse.cs", "system/Task.crus", "system/Subscription.cruds"} <= set(asked)
        assert "system/Encounter.rs" in asked
        row_id = enqueue_claim_response(flow, "cr-1")
        flow.worker.duty(OutboxDispatcher).run_once()
        assert outbox_row(flow, row_id).status == "delivered"
        assert len(flow.ehr.store.all_of("ClaimResponse")) == 1


async def test_folder_write_back_asks_for_no_write_scopes(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:  # adapters.writeback: folder
        asked = set(flow.ehr.tokens.asked[0].split())
        assert not {s for s in asked if s.startswith(("system/Task", "system/ClaimResponse"))}


async def test_a_narrower_grant_degrades_the_ehr_and_fails_those_deliveries(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_flow(db_url, tmp_path, adapters={"writeback": "ehr"}) as flow:
        assert ehrs_list(db_url, tmp_path, monkeypatch)["degraded"] is False
        flow.ehr.tokens.grant = NARROW
        flow.clock.advance(600)  # the first token (everything granted) has expired
        first, second = enqueue_claim_response(flow, "a"), enqueue_claim_response(flow, "b")
        with capture_logs() as logs:
            flow.worker.duty(OutboxDispatcher).run_once()
        for row_id in (first, second):
            row = outbox_row(flow, row_id)
            assert (row.status, row.attempts) == ("dead", 1)  # fatal at once: never retried
            assert "did not grant system/ClaimResponse.cs" in row.last_error
        assert flow.ehr.store.all_of("ClaimResponse") == []
        warnings = [e for e in logs if e["event"] == "smart.scopes_narrower"]
        missing = ["system/ClaimResponse.cs", "system/CoverageEligibilityResponse.cs"]  # eligibility write-back too
        assert len(warnings) == 1 and warnings[0]["missing"] == missing
        logged = json.dumps(warnings[0], default=str)
        assert not [token for token in flow.ehr.tokens.tokens if token in logged]  # no secret in the warning

        row = ehrs_list(db_url, tmp_path, monkeypatch)
        assert (row["degraded"], row["missing_scopes"]) == (True, missing)
        metrics = await flow.notifier.get(f"{CB}/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
        assert 'claimbridge_ehr_degraded{ehr="main"} 1.0' in metrics.text

        flow.ehr.tokens.grant = None  # the administrator widens the grant
        flow.clock.advance(600)
        again = enqueue_claim_response(flow, "c")
        flow.worker.duty(OutboxDispatcher).run_once()
        assert outbox_row(flow, again).status == "delivered"
        assert ehrs_list(db_url, tmp_path, monkeypatch)["degraded"] is False


async def test_jwks_is_public_and_serves_both_keys_during_a_rollover(db_url: str, tmp_path: Path) -> None:
    next_private, next_jwks = generate_keys(tmp_path / "next", "RS384")
    published = [str(next_jwks), str(tmp_path / "retired-and-deleted.pem")]  # a missing file is skipped, logged
    async with running_flow(db_url, tmp_path, ehr={"published_key_files": published}) as flow:
        response = await flow.notifier.get(f"{CB}/.well-known/jwks.json")  # no Authorization header
        assert response.status_code == 200
        assert "max-age" in response.headers["cache-control"]
        document = response.json()
        current = load_signing_key(tmp_path / "keys" / "private-key-es384.pem")
        upcoming = load_signing_key(next_private)
        assert [k["kid"] for k in document["keys"]] == [current.kid, upcoming.kid]
        assert not any("d" in k or "p" in k for k in document["keys"])  # public halves only

        flow.ehr.register_client(CLIENT_ID, document)  # the EHR registers what we publish
        for key in (current, upcoming):  # assertions signed by either key verify during the rollover
            config = BackendServicesConfig(client_id=CLIENT_ID, fhir_base=flow.ehr.base_url, key=key)
            assertion = SmartBackendAuth(config, clock=flow.clock.epoch).client_assertion(flow.ehr.token_url)
            assert flow.ehr.tokens.verify_assertion(assertion) == CLIENT_ID

        spec = (await flow.notifier.get(f"{CB}/openapi.json")).json()
        operation = spec["paths"]["/.well-known/jwks.json"]["get"]
        assert "public" in operation["description"].lower() and "security" not in operation
