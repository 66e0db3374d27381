"""The worker path: a notification whose resources have no ids and point at each other by urn:uuid.

An EHR export shaped like a generator's transaction Bundle, carried as a full-resource backport
notification, is stored in the mirror under ``Type/id`` and billed exactly as ``claimbridge check``
bills the same Bundle (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.domain.context import resources_from_bundle
from app.evaluate import check_resources
from app.services import Services
from tests.foreign.layer import add_billing, load, with_ids
from tests.spine.helpers import ADMIN, SECRET, make_services, notification, register

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc, sub_id="claimbridge-demo")
    yield svc
    svc.close()


def foreign_notification(twin: dict[str, Any]) -> dict[str, Any]:
    """The twin's notification with every carried resource id-less and referenced by urn:uuid."""
    note = notification(twin, 1)
    text = json.dumps(note)
    for entry in note["entry"][1:]:
        resource = entry["resource"]
        key = f"{resource['resourceType']}/{resource['id']}"
        for form in (entry["fullUrl"], key):
            text = text.replace(f'"{form}"', f'"urn:uuid:{resource["id"]}"')
    out = json.loads(text)
    for entry in out["entry"][1:]:
        entry["resource"].pop("id")
        entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}
    return out


def test_an_id_less_notification_is_billed_like_check_bills_the_bundle(services: Services) -> None:
    foreign = add_billing(load("carebundle-hypertension-seed7.json"))
    note = foreign_notification(with_ids(foreign))
    assert all("id" not in e["resource"] for e in note["entry"][1:])
    with TestClient(create_app(services)) as client:
        assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202
        services.worker(worker_id="w").drain()
        (stored,) = client.get("/api/claims", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    now = datetime.now(UTC)
    (expected,) = check_resources(
        resources_from_bundle(foreign), config=services.config, today=now.date(), now=now
    ).evaluations
    strip = {"created"}
    assert {k: v for k, v in stored["claim"].items() if k not in strip} == {
        k: v for k, v in expected.claim.items() if k not in strip
    }
    assert stored["encounter"] == expected.encounter and stored["encounter"].startswith("Encounter/")
    codes = [i["productOrService"]["coding"][0]["code"] for i in stored["claim"]["item"]]
    assert codes == ["99213", "93000"]
