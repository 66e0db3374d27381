"""``POST /notifications`` over HTTP on SQLite and PostgreSQL: auth, validation, storage, dedupe."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.api.app import create_app
from app.db.models import Inbox, Job, Subscription
from app.services import Services
from tests.spine.helpers import ADMIN, SECRET, expand, make_services, register

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"
FHIR = {"Content-Type": "application/fhir+json"}
AUTH = {**FHIR, "Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc)
    yield svc
    svc.close()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def counts(services: Services) -> tuple[int, int]:
    """Inbox rows and jobs once the worker's expansion duty has run."""
    expand(services.engine)
    with services.engine.connect() as conn:
        inbox = conn.execute(select(func.count()).select_from(Inbox)).scalar_one()
        jobs = conn.execute(select(func.count()).select_from(Job)).scalar_one()
    return inbox, jobs


def diagnostics(response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert response.headers["content-type"].startswith("application/fhir+json")
    return body["issue"][0]["diagnostics"]


def test_handshake_and_heartbeat_update_health_only(client: TestClient, services: Services) -> None:
    for name in ("handshake_bundle_example.json", "heartbeat_bundle_example.json"):
        response = client.post("/notifications", content=fixture(name), headers=AUTH)
        assert response.status_code == 200
    assert counts(services) == (0, 0)
    with services.engine.connect() as conn:
        sub = conn.execute(select(Subscription)).one()
    assert sub.last_heartbeat_at is not None and sub.status == "active"


@pytest.mark.parametrize(
    "name",
    [
        "full_resource_notification_bundle_example.json",
        "id_only_notification_bundle_example.json",
        "empty_notification_bundle_example.json",
    ],
)
def test_event_notification_is_stored_before_ack_and_deduplicated(
    client: TestClient, services: Services, name: str
) -> None:
    first = client.post("/notifications", content=fixture(name), headers=AUTH)
    assert first.status_code == 202, first.text
    assert counts(services) == (1, 1)
    again = client.post("/notifications", content=fixture(name), headers=AUTH)
    assert again.status_code == 200 and "duplicate" in diagnostics(again)
    assert counts(services) == (1, 1)


def test_same_event_number_in_another_bundle_is_a_duplicate(client: TestClient, services: Services) -> None:
    data = json.loads(fixture("full_resource_notification_bundle_example.json"))
    client.post("/notifications", content=orjson.dumps(data), headers=AUTH)
    data["id"] = "a-different-bundle-id"
    assert client.post("/notifications", content=orjson.dumps(data), headers=AUTH).status_code == 200
    assert counts(services) == (1, 1)


@pytest.mark.parametrize(
    "headers", [FHIR, {**FHIR, "Authorization": "Bearer wrong"}, {**FHIR, "Authorization": f"Basic {SECRET}"}]
)
def test_wrong_or_missing_credential_is_401_and_nothing_stored(
    client: TestClient, services: Services, headers: dict[str, str]
) -> None:
    response = client.post(
        "/notifications", content=fixture("full_resource_notification_bundle_example.json"), headers=headers
    )
    assert response.status_code == 401
    diagnostics(response)
    assert counts(services) == (0, 0)


def test_credential_of_another_subscription_is_refused(client: TestClient, services: Services) -> None:
    register(services, sub_id="other", secret="other-secret")
    response = client.post(
        "/notifications",
        content=fixture("full_resource_notification_bundle_example.json"),
        headers={**FHIR, "Authorization": "Bearer other-secret"},
    )
    assert response.status_code == 401 and "Subscription/123" in diagnostics(response)
    assert counts(services) == (0, 0)


def test_hmac_signature_required_when_configured(client: TestClient, services: Services) -> None:
    register(services, sub_id="123", secret=SECRET, signing_secret="sign-key")
    body = fixture("full_resource_notification_bundle_example.json")
    assert client.post("/notifications", content=body, headers=AUTH).status_code == 401
    bad = {**AUTH, "X-Signature": "00" * 32}
    assert client.post("/notifications", content=body, headers=bad).status_code == 401
    assert counts(services) == (0, 0)
    good = {**AUTH, "X-Signature": hmac.new(b"sign-key", body, hashlib.sha256).hexdigest()}
    assert client.post("/notifications", content=body, headers=good).status_code == 202


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (fixture("empty_notification_bundle_non_conformant_example.json"), "bdl-3"),
        (b'{"resourceType": "Bundle", "type": "history", ', "not valid JSON"),
        (orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}), "not a notification"),
        (fixture("subscription_status_example.json"), "searchset"),
        (fixture("capability_statement_example.json"), "not a resource type"),
        (b"[1, 2]", "not a FHIR resource"),
    ],
)
def test_bad_bodies_are_400_operation_outcomes(
    client: TestClient, services: Services, body: bytes, needle: str
) -> None:
    response = client.post("/notifications", content=body, headers=AUTH)
    assert response.status_code == 400
    assert needle in diagnostics(response)
    assert counts(services) == (0, 0)


def test_unauthenticated_bad_body_gets_401_not_400(client: TestClient) -> None:
    response = client.post("/notifications", content=b"{nonsense", headers=FHIR)
    assert response.status_code == 401


def test_body_over_the_limit_is_413(db_url: str, tmp_path: Path) -> None:
    svc = make_services(db_url, tmp_path, intake={"max_body_bytes": 2048})
    register(svc)
    with TestClient(create_app(svc)) as client:
        response = client.post("/notifications", content=b" " * 4096, headers=AUTH)
        assert response.status_code == 413
        diagnostics(response)
    assert counts(svc) == (0, 0)
    svc.close()


def test_other_content_types_are_415(client: TestClient) -> None:
    headers = {**AUTH, "Content-Type": "text/plain"}
    response = client.post("/notifications", content=fixture("heartbeat_bundle_example.json"), headers=headers)
    assert response.status_code == 415


def test_plain_rest_hook_put_post_delete_and_ping(client: TestClient, services: Services) -> None:
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "meta": {"versionId": "2"},
        "status": "finished",
        "class": {"code": "AMB"},
    }
    body = orjson.dumps(encounter)
    assert client.put("/notifications/Encounter/e1", content=body, headers=AUTH).status_code == 202
    assert client.put("/notifications/Encounter/e1", content=body, headers=AUTH).status_code == 200  # same version
    assert client.put("/notifications/Encounter/e2", content=body, headers=AUTH).status_code == 400
    assert client.post("/notifications", content=body, headers=AUTH).status_code == 200  # Medplum-style, same version
    assert client.delete("/notifications/Encounter/e1", headers=AUTH).status_code == 200
    assert client.post("/notifications", content=b"", headers={"Authorization": f"Bearer {SECRET}"}).status_code == 200
    _, jobs = counts(services)
    assert jobs == 1


def test_admin_endpoints_need_the_token(client: TestClient) -> None:
    for path in ("/api/claims", "/api/dead-letters", "/api/findings", "/api/subscriptions", "/metrics"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.get(path, headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200


def test_probes_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    client.post("/notifications", content=fixture("full_resource_notification_bundle_example.json"), headers=AUTH)
    text = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    assert 'claimbridge_notifications_received_total{type="event-notification"} 1.0' in text
    assert "claimbridge_inbox_pending 1.0" in text and "claimbridge_queue_depth 0.0" in text  # not yet expanded
    expand(client.app.state.services.engine)  # type: ignore[attr-defined]
    text = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    assert "claimbridge_inbox_pending 0.0" in text
    assert "claimbridge_queue_depth 1.0" in text
    assert "claimbridge_oldest_pending_age_seconds" in text
    assert "claimbridge_processing_seconds_bucket" in text
