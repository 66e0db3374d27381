"""A visit notified for a payer with an eligibility endpoint is verified with no operator action, on
SQLite and PostgreSQL; the payer is mocked at the HTTP edge (respx)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.app import create_app
from app.db import claims_repo
from app.db.models import EligibilityCheck, FindingRow, Outbox
from app.eligibility.duty import EligibilityDuty
from app.fhir.r4 import validate_resource
from app.mappers.ids import claim_id
from app.services import Services
from tests.eligibility.helpers import (
    COVERAGE,
    ENCOUNTER,
    PATIENT,
    SUBMIT,
    buckeye_bundle,
    make_services,
    office_visit_benefits,
    response,
)
from tests.spine.helpers import ADMIN, SECRET, notification

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
CLAIM = claim_id(ENCOUNTER, "60054")


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, max_attempts=2, backoff_base_seconds=0.01, timeout_seconds=30)
    yield svc
    svc.close()


def deliver(client: TestClient, services: Services, bundle: dict[str, Any], number: int = 1) -> EligibilityDuty:
    note = notification(bundle, number)
    assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202
    worker = services.worker(worker_id="w")
    worker.drain()
    duty = worker.duty(EligibilityDuty)
    duty.drain(timeout=60)
    return duty


def rules_of(services: Services) -> dict[str, str]:
    with services.engine.connect() as conn:
        claim = claims_repo.get_claim(conn, CLAIM)
    assert claim is not None
    return {f["rule"]: f["severity"] for f in claim["findings"]}


def checks(services: Services) -> list[Any]:
    with services.engine.connect() as conn:
        return list(conn.execute(select(EligibilityCheck)).all())


def outbox_kinds(services: Services) -> list[str]:
    with services.engine.connect() as conn:
        return sorted(r.kind for r in conn.execute(select(Outbox.kind)).all())


def test_active_answer_clears_the_stale_warning_and_shows_the_patient_share(services: Services) -> None:
    with respx.mock(assert_all_called=True) as payer, TestClient(create_app(services)) as client:
        route = payer.post(SUBMIT).mock(
            return_value=httpx.Response(200, json=response(items=office_visit_benefits(), wrap=True))
        )
        note = notification(buckeye_bundle(), 1)
        assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202
        worker = services.worker(worker_id="w")
        worker.drain()
        worker.duty(EligibilityDuty).drain(timeout=60)
        with services.engine.connect() as conn:
            first = conn.execute(
                select(FindingRow.rule).where(FindingRow.claim_id == CLAIM, FindingRow.claim_version == 1)
            ).scalars()
            assert "eligibility.verification-stale" in set(first)  # the claim before the answer
        sent = orjson.loads(route.calls.last.request.content)
        validate_resource(sent)  # a valid R4 CoverageEligibilityRequest
        assert sent["purpose"] == ["validation", "benefits"] and sent["servicedDate"] == "2026-10-06"
        member = next(c for c in sent["contained"] if c["resourceType"] == "Coverage")["subscriberId"]
        assert member == "BMH212835769"
        [check] = checks(services)
        assert (check.coverage, check.trigger, check.result_status) == (COVERAGE, "finished", "active")
        assert "eligibility.verification-stale" not in rules_of(services)  # re-evaluated after the answer
        assert "eligibility-response" in outbox_kinds(services)
        with services.engine.connect() as conn:
            written = conn.execute(select(Outbox.payload).where(Outbox.kind == "eligibility-response")).scalar_one()
        validate_resource(written)

        body = client.get(f"/api/eligibility?patient={PATIENT}", headers=ADMIN_AUTH).json()
        assert body["latest"]["status"] == "active" and body["latest"]["coverage"] == COVERAGE
        estimate = body["estimate"]
        assert estimate["copay"] == "25.00" and estimate["patient_share"] == "25.00"
        assert any("copay = min(copay 25.00" in step for step in estimate["steps"])
        assert client.get("/api/eligibility?patient=x").status_code == 401
        assert client.get("/api/eligibility", headers=ADMIN_AUTH).status_code == 400

        metrics = client.get("/metrics", headers=ADMIN_AUTH).text
        assert 'claimbridge_eligibility_checks{status="active"} 1.0' in metrics
        assert 'claimbridge_eligibility_payer_seconds_count{payer="60054",source="fhir"} 1.0' in metrics

        # The same notification again changes nothing: no new verification, no new call.
        deliver(client, services, buckeye_bundle(), number=2)
        assert len(checks(services)) == 1 and route.call_count == 1


@pytest.mark.parametrize(
    ("answer", "rule", "words"),
    [
        (response(inforce=False), "eligibility.payer-inactive", "not in force"),
        (response(period=("2026-11-01", "2026-12-31")), "eligibility.payer-benefit-period", "outside"),
        (response(errors=["72"]), "eligibility.payer-identity", "member ID"),
    ],
)
def test_answers_that_hold_the_claim_and_ask_the_front_desk(
    services: Services, answer: dict[str, Any], rule: str, words: str
) -> None:
    with respx.mock() as payer, TestClient(create_app(services)) as client:
        payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=answer))
        deliver(client, services, buckeye_bundle())
    assert rules_of(services)[rule] == "error"
    with services.engine.connect() as conn:
        claim = claims_repo.get_claim(conn, CLAIM)
        tasks = [r.payload for r in conn.execute(select(Outbox.payload).where(Outbox.kind == "task")).all()]
    assert claim is not None and claim["status"] == "held"
    finding = next(f for f in claim["findings"] if f["rule"] == rule)
    front_desk = [t for t in tasks if t["identifier"][0]["system"] == "urn:claimbridge:eligibility-task"]
    assert len(front_desk) == 1 and front_desk[0]["focus"] == {"reference": COVERAGE}
    validate_resource(front_desk[0])
    assert words in finding["message"] + finding["fix"] + front_desk[0]["description"]


def test_payer_5xx_after_the_retry_policy_is_an_unverified_warning(services: Services) -> None:
    with respx.mock() as payer, TestClient(create_app(services)) as client:
        route = payer.post(SUBMIT).mock(return_value=httpx.Response(503, headers={"Retry-After": "1"}))
        started = time.perf_counter()
        deliver(client, services, buckeye_bundle())
        elapsed = time.perf_counter() - started
    assert route.call_count == 2  # max_attempts: 2
    assert elapsed >= 1.0  # Retry-After honoured between the attempts
    [check] = checks(services)
    assert check.result_status == "unverified" and "503" in check.result["reason"]
    found = rules_of(services)
    assert found["eligibility.unverified"] == "warning"
    assert not any(r.startswith("eligibility.payer-") for r in found)
    assert "eligibility-response" not in outbox_kinds(services)  # nothing answered, nothing written back


def test_cli_check_runs_one_verification_against_the_mirror(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from app.cli.main import app as cli

    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("CLAIMBRIDGE_CONFIG_DIR", str(services.settings.config_dir))
    monkeypatch.setenv("CLAIMBRIDGE_REFDATA_DIR", str(services.settings.refdata_dir))
    monkeypatch.setenv("CLAIMBRIDGE_ADAPTERS__OUT_DIR", str(services.settings.adapters.out_dir))
    runner = CliRunner()
    with respx.mock() as payer, TestClient(create_app(services)) as client:
        payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response(inforce=False)))
        note = notification(buckeye_bundle(), 1)
        assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202
        services.worker(worker_id="w").drain()
        result = runner.invoke(cli, ["eligibility", "check", "--coverage", COVERAGE, "--date", "2026-10-06", "--json"])
        assert result.exit_code == 0, result.output
        out = orjson.loads(result.stdout)
        assert (out["status"], out["source"], out["service_date"]) == ("inactive", "fhir", "2026-10-06")
        text = runner.invoke(cli, ["eligibility", "check", "--coverage", "cov-009-1", "--date", "2026-10-06"])
        assert text.exit_code == 0 and "inactive" in text.stdout and "Policy terminated." in text.stdout
    assert rules_of(services)["eligibility.payer-inactive"] == "error"  # the claim was re-evaluated
    manual = [c for c in checks(services) if c.trigger == "manual"]
    assert len(manual) == 1 and manual[0].result_status == "inactive"  # run twice: one stored check
    bad = runner.invoke(cli, ["eligibility", "check", "--coverage", COVERAGE, "--date", "06/10/2026"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    gone = runner.invoke(cli, ["eligibility", "check", "--coverage", "Coverage/nope"])
    assert gone.exit_code == 2 and "not in the mirror" in gone.output
