"""The dead-letters page lists dead inbox rows and dead deliveries; an engineer replays them (CSRF, audited).

Over HTTP (no browser), on SQLite and PostgreSQL; one service per module and database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.app import create_app
from app.db import audit_repo
from app.db.engine import read_only
from app.db.models import Inbox, Job, Outbox
from app.services import Services
from tests.spine.helpers import expand, make_services
from tests.web.conftest import Clock
from tests.web.helpers import add_user, dead_delivery, dead_inbox_row, sign_in


@pytest.fixture(scope="module")
def services(module_db_url: str, tmp_path_factory: pytest.TempPathFactory, module_clock: Clock) -> Iterator[Services]:
    svc = make_services(module_db_url, tmp_path_factory.mktemp("dead-rows"), clock=module_clock)
    add_user(svc, "vera", "viewer")
    add_user(svc, "eng", "engineer")
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), base_url="https://testserver") as c:
        yield c


def status_of(services: Services, table: type[Inbox] | type[Outbox], row_id: int) -> str:
    with services.engine.connect() as conn:
        return str(conn.execute(select(table.status).where(table.id == row_id)).scalar_one())


def replay_audits(services: Services, after: int) -> list[tuple[str, str, str, dict]]:
    with read_only(services.engine) as conn:
        events = audit_repo.list_events(conn, action="replay", after_id=after)
    return [(e["actor"], e["actor_kind"], e["entity"], e["detail"]) for e in events]


def last_audit(services: Services) -> int:
    with read_only(services.engine) as conn:
        events = audit_repo.list_events(conn, limit=100_000)
    return events[-1]["id"] if events else 0


def test_a_viewer_sees_dead_rows_but_cannot_replay_them(client: TestClient, services: Services) -> None:
    inbox_id = dead_inbox_row(services, "sub-view")
    outbox_id = dead_delivery(services, "batch-view")
    csrf = sign_in(client, "vera")
    page = client.get("/console/dead-letters", params={"subscription": "sub-view"})
    assert page.status_code == 200
    assert f'href="/console/messages/notifications/{inbox_id}"' in page.text and "expansion failed" in page.text
    assert "batch-view" in page.text and "HTTP 400" in page.text
    assert f"Replay inbox row {inbox_id}" not in page.text and f"Replay delivery {outbox_id}" not in page.text
    for path in ("/console/dead-letters/inbox/replay", "/console/dead-letters/outbox/replay"):
        assert client.post(path, data={"csrf": csrf, "row": "1"}).status_code == 403
    assert status_of(services, Inbox, inbox_id) == "dead" and status_of(services, Outbox, outbox_id) == "dead"


def test_an_engineer_replays_one_inbox_row_and_one_delivery(client: TestClient, services: Services) -> None:
    inbox_id = dead_inbox_row(services, "sub-eng")
    outbox_id = dead_delivery(services, "batch-eng")
    before = last_audit(services)
    csrf = sign_in(client, "eng")
    page = client.get("/console/dead-letters", params={"subscription": "sub-eng"})
    assert f"Replay inbox row {inbox_id}" in page.text and f"Replay delivery {outbox_id}" in page.text
    assert "Replay all dead inbox rows of sub-eng (1)" in page.text

    path = "/console/dead-letters/inbox/replay"
    assert client.post(path, data={"csrf": "wrong", "row": str(inbox_id)}).status_code == 403
    assert client.post(path, data={"csrf": csrf, "row": "12x"}).status_code == 400
    done = client.post(path, data={"csrf": csrf, "row": str(inbox_id)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("replayed=1&kind=inbox")
    assert "Replayed 1 dead inbox row(s)." in client.get(done.headers["location"]).text
    assert status_of(services, Inbox, inbox_id) == "pending"
    expand(services.engine)  # dies again (nothing fixed): dead with its reason, no job
    with services.engine.connect() as conn:
        assert conn.execute(select(Job.id).where(Job.inbox_id == inbox_id)).first() is None
    assert status_of(services, Inbox, inbox_id) == "dead"

    fragment = client.post(
        "/console/dead-letters/outbox/replay", data={"csrf": csrf, "row": str(outbox_id)}, headers={"HX-Request": "1"}
    )
    assert fragment.status_code == 200 and "Replayed 1 dead delivery(ies)." in fragment.text
    assert status_of(services, Outbox, outbox_id) == "pending"
    everything = client.post(path, data={"csrf": csrf, "subscription": "sub-eng"}, follow_redirects=False)
    assert everything.headers["location"].endswith("replayed=1&kind=inbox")
    assert replay_audits(services, before) == [
        ("eng", "console", f"inbox/{inbox_id}", {"replayed": 1}),
        ("eng", "console", f"outbox/{outbox_id}", {"replayed": 1}),
        ("eng", "console", "inbox-dead/sub-eng", {"replayed": 1}),
    ]
