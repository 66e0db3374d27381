"""Identity is per EHR: two EHRs sending colliding ids (Encounter, Patient, versions) stay apart.

Through the real endpoint and the worker, on SQLite and PostgreSQL. EHR A is the default one (its
subscription names no EHR), EHR B is ``ehr-b``; B sends A's very ids with other content.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import claims_repo, mirror_repo
from app.db.models import Job
from app.domain.tenancy import DEFAULT_EHR
from app.mappers.ids import claim_id
from app.services import Services
from tests.spine.helpers import bearer, make_services, notification, register, sample_bundles

SECRET_A, SECRET_B = "secret-of-ehr-a-0123456789", "secret-of-ehr-b-0123456789"


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc, sub_id="sub-a", secret=SECRET_A)
    register(svc, sub_id="sub-b", secret=SECRET_B, ehr="ehr-b")
    yield svc
    svc.close()


def of_type(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def b_version(bundle: dict[str, Any], version: str) -> dict[str, Any]:
    """A's ids, other content: another surname, another first diagnosis, every version ``version``."""
    other = copy.deepcopy(bundle)
    for entry in other["entry"]:
        entry["resource"].setdefault("meta", {})["versionId"] = version
    of_type(other, "Patient")[0]["name"][0]["family"] = "Okafor"
    code = of_type(other, "Condition")[0]["code"]["coding"][0]
    code.update(code="J06.9", display="Acute upper respiratory infection, unspecified")
    return other


def post(client: TestClient, note: dict[str, Any], secret: str) -> int:
    return client.post("/notifications", content=orjson.dumps(note), headers=bearer(secret)).status_code


def diagnoses(claim: dict[str, Any]) -> list[str]:
    return [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in claim["claim"]["diagnosis"]]


def test_two_ehrs_with_colliding_ids_get_two_separate_correct_claims(client: TestClient, services: Services) -> None:
    bundle = sample_bundles(1)[0]
    encounter = of_type(bundle, "Encounter")[0]
    worker = services.worker(worker_id="w")
    assert post(client, notification(bundle, 1, sub_id="sub-a"), SECRET_A) == 202
    worker.drain()
    with services.engine.connect() as conn:
        a_before = diagnoses(claims_repo.list_claims(conn)[0])
    # B's version 777 of the same ids: must neither drop, rewrite nor supersede anything of A's
    assert post(client, notification(b_version(bundle, "777"), 1, sub_id="sub-b"), SECRET_B) == 202
    worker.drain()
    a_v2 = copy.deepcopy(bundle)  # A's own next version still counts
    of_type(a_v2, "Encounter")[0]["meta"]["versionId"] = "2"
    assert post(client, notification(a_v2, 2, sub_id="sub-a"), SECRET_A) == 202
    worker.drain()

    key = f"Encounter/{encounter['id']}"
    with services.engine.connect() as conn:
        claims = {c["id"]: c for c in claims_repo.list_claims(conn)}
        results = [r for (r,) in conn.execute(select(Job.result).order_by(Job.id))]
        a_patient = mirror_repo.get(conn, "Patient/pat-001")
        b_patient = mirror_repo.get(conn, "Patient/pat-001", ehr="ehr-b")
        a_encounter = mirror_repo.stored_version(conn, key)
        b_encounter = mirror_repo.stored_version(conn, key, ehr="ehr-b")
    assert "superseded" not in results, results
    assert len(claims) == 2, claims.keys()
    payer = next(iter(claims.values()))["payer"]
    a_claim, b_claim = claims[claim_id(key, payer)], claims[claim_id(key, payer, ehr="ehr-b")]
    assert diagnoses(a_claim) == a_before and a_before[0] == "E11.65"
    assert diagnoses(b_claim)[0] == "J06.9" and diagnoses(b_claim)[1:] == a_before[1:]
    assert a_patient is not None and a_patient["name"][0]["family"] == "Desai"
    assert b_patient is not None and b_patient["name"][0]["family"] == "Okafor"
    assert a_encounter is not None and a_encounter[0] == "2"
    assert b_encounter is not None and b_encounter[0] == "777"
    with services.engine.connect() as conn:
        ehrs = dict(conn.execute(select(Job.subscription_id, Job.ehr).distinct()).all())
    assert ehrs == {"sub-a": DEFAULT_EHR, "sub-b": "ehr-b"}


def test_a_rest_hook_put_of_another_ehrs_version_is_not_a_duplicate(client: TestClient) -> None:
    patient = of_type(sample_bundles(1)[0], "Patient")[0]
    body = orjson.dumps(patient)
    url = f"/notifications/Patient/{patient['id']}"
    assert client.put(url, content=body, headers=bearer(SECRET_A)).status_code == 202
    again = client.put(url, content=body, headers=bearer(SECRET_A))
    assert again.status_code == 200 and "duplicate" in again.text
    assert client.put(url, content=body, headers=bearer(SECRET_B)).status_code == 202  # B's own Patient/pat-001
    assert client.put(url, content=body, headers=bearer(SECRET_B)).status_code == 200
