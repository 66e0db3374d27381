"""The console over HTTP (no browser): sign-in, roles, CSRF, expiry, 401 pages, messages, replay, audit.

On SQLite and PostgreSQL, through the real app; one service per module and database (each test its
own browser client), so the tests must not depend on each other's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from app.api.app import create_app
from app.db import audit_repo, ehr_repo, messages_repo
from app.db.engine import read_only
from app.services import Services
from tests.spine.helpers import ADMIN, expand, make_services, notification, register, sample_bundles
from tests.web.conftest import Clock
from tests.web.helpers import add_user, csrf_of, sign_in
from tests.web.smart_env import held_claim_bundle


@pytest.fixture(scope="module")
def services(module_db_url: str, tmp_path_factory: pytest.TempPathFactory, module_clock: Clock) -> Iterator[Services]:
    svc = make_services(module_db_url, tmp_path_factory.mktemp("console"), clock=module_clock)
    register(svc, sub_id="claimbridge-demo")
    add_user(svc, "vera", "viewer")
    add_user(svc, "eng", "engineer")
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), base_url="https://testserver") as c:
        yield c


def test_root_redirects_to_sign_in_and_pages_need_a_session(client: TestClient) -> None:
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 303 and root.headers["location"] == "/console/login"
    for path in (
        "/console/",
        "/console/messages",
        "/console/dead-letters",
        "/console/subscriptions",
        "/console/config",
        "/console/messages/jobs/1",
        "/console/messages/notifications/1/raw",
    ):
        page = client.get(path)
        assert page.status_code == 401, path
        assert "text/html" in page.headers["content-type"] and 'href="/console/login"' in page.text
    assert client.post("/console/dead-letters/replay", data={"csrf": "x"}).status_code == 401
    assert client.get("/static/htmx.min.js").status_code == 200
    login = client.get("/console/login")
    assert (
        login.headers["x-frame-options"] == "DENY" and "script-src 'self'" in login.headers["content-security-policy"]
    )


def test_sign_in_cookies_roles_csrf_and_expiry(client: TestClient, services: Services, clock: Clock) -> None:
    page = client.get("/console/login")
    wrong = client.post("/console/login", data={"csrf": csrf_of(page.text), "name": "vera", "password": "nope" * 4})
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    forged = client.post("/console/login", data={"csrf": "forged", "name": "vera", "password": "x"})
    assert forged.status_code == 403

    csrf = sign_in(client, "vera")
    cookie = next(c for c in client.cookies.jar if c.name == "cb_console")
    assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
    assert client.get("/console/messages").status_code == 200
    # a viewer sees messages but neither raw payloads nor replays
    assert client.get("/console/messages/notifications/1/raw").status_code == 403
    assert client.post("/console/dead-letters/replay", data={"csrf": csrf}).status_code == 403

    clock.now += timedelta(minutes=services.settings.web.session_idle_minutes + 1)
    assert client.get("/console/").status_code == 401  # idle too long


def last_audit_id(services: Services) -> int:
    with read_only(services.engine) as conn:
        events = audit_repo.list_events(conn, limit=100_000)
    return events[-1]["id"] if events else 0


def post(client: TestClient, services: Services, bundle: dict, sub_id: str, number: int = 1) -> int:
    """Notify ``bundle`` through a subscription of this test's own; the inbox id of the notification."""
    if number == 1:
        register(services, sub_id=sub_id, secret=f"secret-{sub_id}")
    headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer secret-{sub_id}"}
    body = orjson.dumps(notification(bundle, number, sub_id=sub_id))
    assert client.post("/notifications", content=body, headers=headers).status_code == 202
    expand(services.engine)  # the worker's expansion: the notification's job exists
    with read_only(services.engine) as conn:
        page = messages_repo.browse(conn, "notifications", messages_repo.MessageFilter(subscription=sub_id))
    return int(page.rows[0]["id"])


def test_messages_raw_payload_is_audited_and_replay_needs_csrf(client: TestClient, services: Services) -> None:
    inbox_id = post(client, services, sample_bundles(1)[0], "sub-messages")
    before = last_audit_id(services)
    csrf = sign_in(client, "eng")
    jobs = client.get("/console/messages", params={"kind": "jobs", "subscription": "sub-messages"})
    assert jobs.status_code == 200 and "Encounter/enc-001" in jobs.text
    none = client.get("/console/messages", params={"kind": "jobs", "encounter": "enc-nope"})
    assert "No messages match" in none.text
    notes = client.get("/console/messages", params={"kind": "notifications"})
    assert f"/console/messages/notifications/{inbox_id}" in notes.text
    assert client.get("/console/messages", params={"since": "yesterday"}).status_code == 400
    raw = client.get(f"/console/messages/notifications/{inbox_id}/raw")
    assert raw.status_code == 200 and "enc-001" in raw.text
    assert client.post("/console/dead-letters/replay", data={"csrf": "wrong"}).status_code == 403
    replayed = client.post("/console/dead-letters/replay", data={"csrf": csrf}, follow_redirects=False)
    assert replayed.status_code == 303 and replayed.headers["location"].endswith("replayed=0")
    with read_only(services.engine) as conn:
        events = [e for e in audit_repo.list_events(conn, after_id=before) if e["action"] != "sign-in"]
    assert [(e["actor"], e["action"], e["entity"]) for e in events] == [
        ("eng", "payload-view", f"inbox/{inbox_id}"),
        ("eng", "replay", "dead-letters/all"),
    ]


def test_messages_pages_by_key(client: TestClient, services: Services) -> None:
    bundles = sample_bundles(3)
    post(client, services, bundles[1], "sub-pages", 1)
    post(client, services, bundles[2], "sub-pages", 2)
    sign_in(client, "vera")
    page = client.get("/console/messages", params={"kind": "jobs", "subscription": "sub-pages"})
    ids = [int(i) for i in re.findall(r'href="/console/messages/jobs/(\d+)"', page.text)]
    assert len(ids) == 2 and ids[0] > ids[1]  # newest first
    older = client.get("/console/messages", params={"kind": "jobs", "subscription": "sub-pages", "before": ids[0]})
    assert re.findall(r'href="/console/messages/jobs/(\d+)"', older.text) == [str(ids[1])]


def test_a_stopped_gap_recovery_is_retried_from_the_subscriptions_page(client: TestClient, services: Services) -> None:
    with services.engine.begin() as conn:
        gap = ehr_repo.record_gap(conn, "claimbridge-demo", kind="events", first=3, last=4, now=services.clock())
        assert ehr_repo.note_gap_attempt(conn, gap, detail="bad $events answer", fatal=True, limit=1) == "failed"
    csrf = sign_in(client, "eng")
    page = client.get("/console/subscriptions")
    assert f"Retry recovery of gap {gap}" in page.text
    retried = client.post("/console/subscriptions/gaps/retry", data={"csrf": csrf, "gap": gap}, follow_redirects=False)
    assert retried.status_code == 303
    assert client.post("/console/subscriptions/gaps/retry", data={"csrf": csrf, "gap": gap}).status_code == 409
    with read_only(services.engine) as conn:
        assert ehr_repo.gap_status(conn, gap) == "open"


def test_dashboard_and_config_render(client: TestClient) -> None:
    sign_in(client, "vera")
    dashboard = client.get("/console/")
    assert dashboard.status_code == 200 and "<svg" in dashboard.text and "Clean claim rate" in dashboard.text
    config = client.get("/console/config")
    assert config.status_code == 200 and "Mapping version" in config.text


def test_overrides_replays_and_payload_views_are_exported_as_audit_events(
    client: TestClient, services: Services
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}", "X-Claimbridge-User": "billing.lead"}
    inbox_id = post(client, services, held_claim_bundle(), "sub-audit")
    services.worker(worker_id="w").drain()
    before = last_audit_id(services)
    claim = next(c for c in client.get("/api/claims", headers=admin).json() if c["encounter"] == "Encounter/enc-005")
    finding = next(f for f in claim["findings"] if f["severity"] == "error")
    path = f"/api/claims/{claim['id']}/findings/{finding['id']}/override"
    assert client.post(path, json={"reason": "documented"}, headers=admin).status_code == 200
    assert client.post("/api/dead-letters/replay", headers=admin).status_code == 200
    sign_in(client, "eng")
    assert client.get(f"/console/messages/notifications/{inbox_id}/raw").status_code == 200

    assert client.get("/api/audit").status_code == 401
    exported = client.get("/api/audit", params={"after": before}, headers=admin)
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

    page = client.get("/api/audit", params={"after": before, "_count": 2}, headers=admin).json()
    assert len(page["entry"]) == 2 and page["link"][0]["relation"] == "next"
    rest = client.get(page["link"][0]["url"].replace("https://testserver", ""), headers=admin).json()
    assert [e["resource"]["subtype"][0]["code"] for e in rest["entry"]] == ["sign-in", "payload-view"]
    assert client.get("/api/audit", params={"action": "nope"}, headers=admin).status_code == 400
