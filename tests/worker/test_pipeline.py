"""End to end through the real endpoint and the worker, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import claims_repo, intake_repo
from app.db.models import ClaimVersion, Job, Outbox
from app.db.sql import utcnow
from app.fhir.r4 import validate_resource
from app.intake.notification import parse_notification
from app.mappers.ids import claim_id
from app.services import Services
from tests.spine.helpers import ADMIN, SECRET, make_services, notification, register, sample_bundles

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc, sub_id="claimbridge-demo")
    yield svc
    svc.close()


def post(client: TestClient, note: dict) -> int:
    return client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code


def versions(services: Services) -> int:
    with services.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(ClaimVersion)).scalar_one()


def test_sample_encounters_become_stored_valid_claims(client: TestClient, services: Services) -> None:
    bundles = sample_bundles(8)
    for i, bundle in enumerate(bundles, start=1):
        assert post(client, notification(bundle, i)) == 202
    services.worker(worker_id="w").drain()
    claims = client.get("/api/claims", headers=ADMIN_AUTH).json()
    assert len(claims) == len(bundles)
    for claim in claims:
        validate_resource(claim["claim"])
        assert claim["claim"]["id"] == claim["id"] == claim_id(claim["encounter"], claim["payer"])
        assert claim["status"] in ("held", "ready")
        assert claim["config_hash"] == services.config.config_hash and claim["mapping_version"]
        one = client.get(f"/api/claims/{claim['id']}", headers=ADMIN_AUTH).json()
        assert one["claim"] == claim["claim"]
        assert client.get(f"/api/claims/{claim['id']}/findings", headers=ADMIN_AUTH).json() == claim["findings"]
    assert client.get("/api/claims/cb-nope", headers=ADMIN_AUTH).status_code == 404
    with services.engine.connect() as conn:
        outbox = conn.execute(select(Outbox.destination, func.count()).group_by(Outbox.destination)).all()
        done = conn.execute(select(func.count()).select_from(Job).where(Job.status == "done")).scalar_one()
    assert done == len(bundles)
    # Ready claims wait for the periodic batch submitter (tests/clearinghouse): nothing is sent per claim.
    assert any(c["status"] == "ready" for c in claims)
    assert dict(outbox).get("clearinghouse", 0) == 0


def test_redelivery_and_stale_versions_never_add_claim_versions(client: TestClient, services: Services) -> None:
    bundle = sample_bundles(1)[0]
    encounter = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    v2 = copy.deepcopy(bundle)
    enc2 = next(e["resource"] for e in v2["entry"] if e["resource"]["resourceType"] == "Encounter")
    enc2["meta"] = {**encounter.get("meta", {}), "versionId": "2"}
    enc2["length"] = {"value": 61, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}
    worker = services.worker(worker_id="w")
    assert post(client, notification(v2, 1)) == 202  # version 2 arrives first
    worker.drain()
    assert versions(services) == 1
    assert post(client, notification(v2, 2)) == 202  # re-delivered under a new event number
    worker.drain()
    assert versions(services) == 1
    assert post(client, notification(bundle, 3)) == 202  # the older version 1, late
    worker.drain()
    assert versions(services) == 1
    with services.engine.connect() as conn:
        results = sorted(conn.execute(select(Job.event_number, Job.result)).all())
        claim = claims_repo.list_claims(conn)[0]
    assert results[2][1] == "superseded" and results[1][1].endswith(":unchanged")
    stored_encounter = claim["claim"]["item"][0]["encounter"][0]["reference"]
    assert stored_encounter == f"Encounter/{encounter['id']}"


def test_a_bad_resource_is_dead_lettered_with_its_reason_and_replayable(client: TestClient, services: Services) -> None:
    bundle = sample_bundles(1)[0]
    broken = copy.deepcopy(bundle)
    patient = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["birthDate"] = "not-a-date"
    note = notification(broken, 1)
    refused = client.post("/notifications", content=orjson.dumps(note), headers=AUTH)
    assert refused.status_code == 400 and "Patient invalid at birthDate" in refused.text  # the sender learns
    with services.engine.begin() as conn:  # stored past the edge (as a recovered gap is): the worker refuses it
        body = orjson.dumps(note)
        intake_repo.store_notification(
            conn, subscription_id="claimbridge-demo", note=parse_notification(body), body=body,
            content_type="application/fhir+json", now=utcnow(),
        )  # fmt: skip
    services.worker(worker_id="w").drain()
    dead = client.get("/api/dead-letters", headers=ADMIN_AUTH).json()
    assert len(dead) == 1 and "Patient invalid at birthDate" in dead[0]["reason"]
    assert versions(services) == 0
    response = client.post(f"/api/dead-letters/{dead[0]['id']}/replay", headers=ADMIN_AUTH)
    assert response.json() == {"replayed": 1}
    assert client.post("/api/dead-letters/999999/replay", headers=ADMIN_AUTH).status_code == 404
    services.worker(worker_id="w").drain()  # still broken: dead again, nothing half-stored
    assert len(client.get("/api/dead-letters", headers=ADMIN_AUTH).json()) == 1
    assert versions(services) == 0


def test_id_only_without_an_ehr_is_a_dead_letter_not_a_retry_loop(client: TestClient, services: Services) -> None:
    note = notification(sample_bundles(1)[0], 1)
    note["entry"] = note["entry"][:2]
    note["entry"][1].pop("resource")
    assert post(client, note) == 202
    services.worker(worker_id="w").drain()
    dead = client.get("/api/dead-letters", headers=ADMIN_AUTH).json()
    assert len(dead) == 1 and "no EHR is configured" in dead[0]["reason"] and dead[0]["attempts"] == 1


def test_reprocessing_the_original_does_not_make_it_a_duplicate_of_a_later_copy(
    client: TestClient, services: Services
) -> None:
    from tests.spine.helpers import clone_bundle

    original = sample_bundles(1)[0]
    copy_bundle = clone_bundle(original, "copy")
    # the copy keeps the same patient and coverage so that its lines duplicate the original's
    patient_id = next(e["resource"]["id"] for e in original["entry"] if e["resource"]["resourceType"] == "Patient")
    copy_bundle = orjson.loads(orjson.dumps(copy_bundle).replace(f"{patient_id}-copy".encode(), patient_id.encode()))
    worker = services.worker(worker_id="w")
    assert post(client, notification(original, 1)) == 202
    worker.drain()
    assert post(client, notification(copy_bundle, 2)) == 202
    worker.drain()
    with services.engine.connect() as conn:
        claims = {c["encounter"]: c for c in claims_repo.list_claims(conn)}
    rules = {key: {f["rule"] for f in c["findings"]} for key, c in claims.items()}
    copy_key = next(k for k in claims if k.endswith("-copy"))
    original_key = next(k for k in claims if not k.endswith("-copy"))
    assert "duplicate.line-already-billed" in rules[copy_key]
    assert "duplicate.line-already-billed" not in rules[original_key]
    # a newer version of the original's encounter re-evaluates it: still not a duplicate
    bumped = copy.deepcopy(original)
    enc = next(e["resource"] for e in bumped["entry"] if e["resource"]["resourceType"] == "Encounter")
    enc["meta"] = {**enc.get("meta", {}), "versionId": "9"}
    enc["length"] = {"value": 44, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}
    assert post(client, notification(bumped, 3)) == 202
    worker.drain()
    with services.engine.connect() as conn:
        again = next(c for c in claims_repo.list_claims(conn) if c["encounter"] == original_key)
    assert again["version"] == 2
    assert "duplicate.line-already-billed" not in {f["rule"] for f in again["findings"]}
