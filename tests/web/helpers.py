"""Helpers of the web tests: console accounts, a signed-in TestClient, forms' CSRF tokens."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.db import web_repo
from app.db.sql import utcnow
from app.services import Services
from app.web.sessions import hash_password

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_user(services: Services, name: str, role: str, password: str = PASSWORD) -> None:
    with services.engine.begin() as conn:
        web_repo.upsert_user(conn, name=name, password_hash=hash_password(password), role=role, now=utcnow())


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no csrf field in the page"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token (from the next page)."""
    page = client.get("/console/login")
    response = client.post(
        "/console/login", data={"csrf": csrf_of(page.text), "name": name, "password": password}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console/").text)


def dead_inbox_row(services: Services, subscription_id: str, *, ehr: str | None = None, bundle: str = "b1") -> int:
    """A two-event notification of ``subscription_id`` (an internal key; ``ehr``: its EHR's name)
    whose expansion failed (its stored jobs unreadable)."""
    from sqlalchemy import update

    from app.db.intake_repo import IntakeBatch
    from app.db.models import Inbox
    from app.intake.notification import Event, Notification
    from tests.spine.helpers import expand

    events = (Event(1, "Encounter/enc-dead-1", "1"), Event(2, "Encounter/enc-dead-2", "1"))
    bundle_id = f"{subscription_id}-{bundle}" if bundle == "b1" else bundle
    note = Notification(
        kind="event-notification", subscription_id=None, bundle_id=bundle_id, status="active",
        content="id-only", events=events,
    )  # fmt: skip
    with services.engine.begin() as conn:
        batch = IntakeBatch(conn, utcnow())
        inbox_id = batch.store(subscription_id, note, b"{}", None, **({"ehr": ehr} if ehr else {})).inbox_id
        batch.finish()
        assert inbox_id is not None
        conn.execute(update(Inbox).where(Inbox.id == inbox_id).values(events="[[not json"))
    expand(services.engine)
    return inbox_id


def dead_delivery(services: Services, key: str) -> int:
    """A clearinghouse file its receiver refused for good."""
    from app.db import outbox_repo

    payload = {"file_name": f"{key}.837", "x12": "ISA*00*~IEA*1*000000001~"}
    with services.engine.begin() as conn:
        outbox_id = outbox_repo.enqueue(
            conn, destination="clearinghouse", kind="837p", key=key, payload=payload, now=utcnow()
        )
        outbox_repo.mark_failed(conn, outbox_id, error="837P submission: HTTP 400", retry_at=None)
    return outbox_id
