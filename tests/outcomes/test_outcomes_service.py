"""The worker stores every encounter's outcome beside its claims; ``/api/encounters`` serves them.

On SQLite and PostgreSQL, through the real endpoint and worker.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.services import Services
from tests.spine.helpers import ADMIN, SECRET, make_services, notification, register, sample_bundles

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
SECRET_B = "SAMPLE_TOKEN_OF_EHR_B"
CHARGES = ("ServiceRequest", "MedicationRequest", "Procedure", "ChargeItem")


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc, sub_id="claimbridge-demo")
    yield svc
    svc.close()


def encounter_of(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")


def nothing_billable(bundle: dict[str, Any]) -> dict[str, Any]:
    """The visit without its E/M code, orders or drugs: finished, but nothing to bill."""
    out = copy.deepcopy(bundle)
    out["entry"] = [e for e in out["entry"] if e["resource"]["resourceType"] not in CHARGES]
    encounter_of(out).pop("type")
    return out


def history_only(bundle: dict[str, Any]) -> dict[str, Any]:
    """A notification about a prior visit sent as context only (tagged history)."""
    past = [e for e in bundle["entry"] if e["resource"]["id"].startswith("enc-hist-")]
    patient = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    return {**bundle, "entry": [past[0], *patient]}


def drain(client: TestClient, services: Services, bundles: list[dict[str, Any]], first: int = 1) -> None:
    for i, bundle in enumerate(bundles, start=first):
        response = client.post("/notifications", content=orjson.dumps(notification(bundle, i)), headers=AUTH)
        assert response.status_code == 202, response.text
    services.worker(worker_id="w").drain()


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers=ADMIN_AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_evaluated_encounter_is_stored_with_its_claim_or_reason(client: TestClient, services: Services) -> None:
    billed, unbilled = sample_bundles(2)
    drain(client, services, [billed, nothing_billable(unbilled), history_only(billed)])
    listed = get(client, "/api/encounters")
    assert [(e["encounter"], e["outcome"]) for e in listed] == [
        ("Encounter/enc-001", "claim"),
        ("Encounter/enc-002", "nothing-billable"),
        ("Encounter/enc-hist-001-1", "history"),
    ]
    claims = get(client, "/api/claims")
    assert listed[0]["claim"] == claims[0]["id"] and listed[0]["claim_status"] == claims[0]["status"]
    assert listed[0]["findings"] == [] and listed[1]["claim"] is None
    assert [f["rule"] for f in listed[1]["findings"]] == ["charge-capture.nothing-billable"]
    assert listed[1]["findings"][0]["category"] == "charge-capture" and listed[1]["findings"][0]["fix"]
    assert [f["rule"] for f in listed[2]["findings"]] == ["charge-capture.history-encounter"]
    assert [e["encounter"] for e in get(client, "/api/encounters", billed="false")] == [
        "Encounter/enc-002", "Encounter/enc-hist-001-1"
    ]  # fmt: skip
    assert [e["encounter"] for e in get(client, "/api/encounters", outcome="nothing-billable")] == ["Encounter/enc-002"]
    assert [e["encounter"] for e in get(client, "/api/encounters", patient="pat-002")] == ["Encounter/enc-002"]
    assert get(client, "/api/encounters/enc-002") == listed[1] == get(client, "/api/encounters/Encounter/enc-002")


def test_a_re_evaluated_encounter_replaces_its_outcome(client: TestClient, services: Services) -> None:
    bundle = sample_bundles(2)[1]
    drain(client, services, [nothing_billable(bundle)])
    before = get(client, "/api/encounters/enc-002")
    assert before["outcome"] == "nothing-billable"
    fixed = copy.deepcopy(bundle)  # the charges arrive with the next version of the encounter
    encounter_of(fixed)["meta"] = {**encounter_of(fixed).get("meta", {}), "versionId": "2"}
    drain(client, services, [fixed], first=2)
    after = get(client, "/api/encounters/enc-002")
    claim = get(client, "/api/claims")[0]
    assert (after["outcome"], after["claim"], after["findings"]) == ("claim", claim["id"], [])
    assert after["created_at"] == before["created_at"] and after["updated_at"] >= before["updated_at"]
    assert len(get(client, "/api/encounters")) == 1


def test_encounter_routes_need_the_token_and_answer_operation_outcomes(client: TestClient) -> None:
    assert client.get("/api/encounters").status_code == 401
    missing = client.get("/api/encounters/enc-nope", headers=ADMIN_AUTH)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/fhir+json")
    assert missing.json()["issue"][0]["code"] == "not-found" and "Encounter/enc-nope" in missing.text
    bad = client.get("/api/encounters", params={"outcome": "lost"}, headers=ADMIN_AUTH)
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    assert "nothing-billable" in bad.json()["issue"][0]["diagnostics"]


def test_an_encounter_id_two_ehrs_hold_needs_the_ehr(client: TestClient, services: Services) -> None:
    """Identity is per EHR (ADR 0011): the same id from two EHRs is two visits, never the first one's."""
    register(services, sub_id="sub-b", secret=SECRET_B, ehr="ehr-b")
    (bundle,) = sample_bundles(1)
    drain(client, services, [bundle])
    note = notification(bundle, 2, sub_id="sub-b")
    headers = {**AUTH, "Authorization": f"Bearer {SECRET_B}"}
    assert client.post("/notifications", content=orjson.dumps(note), headers=headers).status_code == 202
    services.worker(worker_id="w").drain()

    both = client.get("/api/encounters/enc-001", headers=ADMIN_AUTH)
    assert both.status_code == 409 and both.headers["content-type"].startswith("application/fhir+json")
    assert both.json()["issue"][0]["code"] == "conflict"
    assert "default, ehr-b" in both.json()["issue"][0]["diagnostics"] and "?ehr=" in both.text
    mine = get(client, "/api/encounters/enc-001", ehr="ehr-b")
    theirs = get(client, "/api/encounters/Encounter/enc-001", ehr="default")
    assert (mine["ehr"], theirs["ehr"]) == ("ehr-b", "default")
    missing = client.get("/api/encounters/enc-001", params={"ehr": "ehr-c"}, headers=ADMIN_AUTH)
    assert missing.status_code == 404 and "of EHR ehr-c" in missing.text
    spec = client.get("/openapi.json").json()["paths"]["/api/encounters/{encounter_id}"]["get"]
    assert "409" in spec["responses"] and any(p["name"] == "ehr" for p in spec["parameters"])
