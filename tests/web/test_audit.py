"""The audit trail: overrides and replays over the admin API, payload views in the console, exported as
FHIR AuditEvent by ``GET /api/audit`` (each one valid R4B). On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from app.api.app import create_app
from app.services import Services
from tests.spine.helpers import ADMIN, SECRET, make_services, notification, register
from tests.web.helpers import add_user, sign_in
from tests.web.smart_env import held_claim_bundle

ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}", "X-Claimbridge-User": "billing.lead"}


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc, sub_id="claimbridge-demo")
    add_user(svc, "eng", "engineer")
    yield svc
    svc.close()


def test_overrides_replays_and_payload_views_are_exported_as_audit_events(services: Services) -> None:
    with TestClient(create_app(services), base_url="https://testserver") as client:
        headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
        body = orjson.dumps(notification(held_claim_bundle(), 1))
        assert client.post("/notifications", content=body, headers=headers).status_code == 202
        services.worker(worker_id="w").drain()
        claim = client.get("/api/claims", headers=ADMIN_AUTH).json()[0]
        finding = next(f for f in claim["findings"] if f["severity"] == "error")
        path = f"/api/claims/{claim['id']}/findings/{finding['id']}/override"
        assert client.post(path, json={"reason": "documented"}, headers=ADMIN_AUTH).status_code == 200
        assert client.post("/api/dead-letters/replay", headers=ADMIN_AUTH).status_code == 200
        sign_in(client, "eng")
        assert client.get("/console/messages/notifications/1/raw").status_code == 200

        assert client.get("/api/audit").status_code == 401
        exported = client.get("/api/audit", headers=ADMIN_AUTH)
        assert exported.status_code == 200 and exported.headers["content-type"] == "application/fhir+json"
        bundle = Bundle.model_validate(exported.json())
        events = [AuditEvent.model_validate(e.resource.model_dump()) for e in bundle.entry]
        summary = [(e.subtype[0].code, e.action, e.agent[0].altId) for e in events]
        assert summary == [
            ("override", "U", "billing.lead"),
            ("replay", "E", "billing.lead"),
            ("sign-in", "E", "eng"),
            ("payload-view", "R", "eng"),
        ]
        assert events[0].entity[0].what.reference == f"Claim/{claim['id']}"

        page = client.get("/api/audit", params={"_count": 2}, headers=ADMIN_AUTH).json()
        assert len(page["entry"]) == 2 and page["link"][0]["relation"] == "next"
        rest = client.get(page["link"][0]["url"].replace("https://testserver", ""), headers=ADMIN_AUTH).json()
        assert [e["resource"]["subtype"][0]["code"] for e in rest["entry"]] == ["sign-in", "payload-view"]
        assert client.get("/api/audit", params={"action": "nope"}, headers=ADMIN_AUTH).status_code == 400
