"""The console over HTTP (no browser): sign-in, roles, CSRF, expiry, 401 pages, messages, replay, audit.

On SQLite and PostgreSQL, through the real app.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.db import audit_repo
from app.db.engine import read_only
from app.services import Services
from tests.spine.helpers import SECRET, make_services, notification, register, sample_bundles
from tests.web.helpers import add_user, csrf_of, sign_in

NOTIFY = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


class Clock:
    def __init__(self) -> None:
        from app.db.sql import utcnow

        self.now = utcnow()

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(db_url: str, tmp_path: Path, clock: Clock) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, clock=clock)
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


def test_messages_raw_payload_is_audited_and_replay_needs_csrf(client: TestClient, services: Services) -> None:
    bundle = sample_bundles(1)[0]
    assert (
        client.post("/notifications", content=orjson.dumps(notification(bundle, 1)), headers=NOTIFY).status_code == 202
    )
    csrf = sign_in(client, "eng")
    jobs = client.get("/console/messages", params={"kind": "jobs", "encounter": "enc-001"})
    assert jobs.status_code == 200 and "Encounter/enc-001" in jobs.text
    none = client.get("/console/messages", params={"kind": "jobs", "encounter": "enc-nope"})
    assert "No messages match" in none.text
    notes = client.get("/console/messages", params={"kind": "notifications"})
    assert "/console/messages/notifications/1" in notes.text
    raw = client.get("/console/messages/notifications/1/raw")
    assert raw.status_code == 200 and "enc-001" in raw.text
    assert client.post("/console/dead-letters/replay", data={"csrf": "wrong"}).status_code == 403
    replayed = client.post("/console/dead-letters/replay", data={"csrf": csrf}, follow_redirects=False)
    assert replayed.status_code == 303 and replayed.headers["location"].endswith("replayed=0")
    with read_only(services.engine) as conn:
        events = audit_repo.list_events(conn)
    assert [(e["actor"], e["action"], e["entity"]) for e in events if e["action"] != "sign-in"] == [
        ("eng", "payload-view", "inbox/1"),
        ("eng", "replay", "dead-letters/all"),
    ]


def test_dashboard_and_config_render(client: TestClient) -> None:
    sign_in(client, "vera")
    dashboard = client.get("/console/")
    assert dashboard.status_code == 200 and "<svg" in dashboard.text and "Clean claim rate" in dashboard.text
    config = client.get("/console/config")
    assert config.status_code == 200 and "Mapping version" in config.text
