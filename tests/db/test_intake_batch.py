"""One intake batch stores exactly what the same notifications stored one by one would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from app.db import intake_repo, migrate, queue_repo
from app.db.engine import make_engine
from app.db.models import Inbox, Job, Subscription
from app.db.subscriptions_repo import add_subscription
from app.intake.notification import Event, Notification
from tests.spine.helpers import expand

T0 = datetime(2026, 11, 20, 15, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Engine:
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    for sid in ("one-by-one", "batched"):
        with eng.begin() as conn:
            add_subscription(
                conn, subscription_id=sid, secret=f"secret-{sid}-0123456789", ehr=None, signing_secret=None,
                content=None, topic=None, heartbeat_period=None, now=T0,
            )  # fmt: skip
    yield eng
    eng.dispose()


def notes(tag: str = "a") -> list[Notification]:
    # rest-hook versions dedupe by resource version across subscriptions: each run has its own ids
    def event(number: int, status: str = "active", since: int | None = None) -> Notification:
        return Notification(
            kind="event-notification", subscription_id=None, bundle_id=f"b{number}", status=status,
            events_since_start=number if since is None else since, content="full-resource",
            events=(Event(number, f"Encounter/e{number}", "1"),),
        )  # fmt: skip

    return [
        Notification(kind="handshake", subscription_id=None, status="requested", events_since_start=0),
        event(1),
        event(3),
        Notification(kind="heartbeat", subscription_id=None, status="active", events_since_start=3),
        event(1),  # the same bundle again: a duplicate
        event(2, status="error", since=2),  # late and out of order; the sender reports an error
        Notification(
            kind="rest-hook",
            subscription_id=None,
            content="full-resource",
            events=(Event(None, f"Encounter/{tag}9", "4"),),
        ),
        Notification(
            kind="rest-hook",
            subscription_id=None,
            content="full-resource",
            events=(Event(None, f"Encounter/{tag}9", "4"),),
        ),  # the same version again
        event(4, status="active"),
    ]


def subscription_state(engine: Engine, sid: str) -> dict[str, Any]:
    keep = ("status", "health", "events_since_start", "last_event_at", "last_heartbeat_at", "events_checked")
    with engine.connect() as conn:
        row = conn.execute(select(*(getattr(Subscription, k) for k in keep)).where(Subscription.id == sid)).one()
    return dict(row._mapping)


def jobs_of(engine: Engine, sid: str) -> list[tuple[Any, ...]]:
    expand(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Job.event_number, Job.focus, Job.version_id, Job.key, Job.status, Job.available_at, Inbox.kind)
            .join(Inbox, Inbox.id == Job.inbox_id)
            .where(Job.subscription_id == sid)
            .order_by(Job.id)
        ).all()
    return [tuple(r) for r in rows]


def test_a_batch_equals_the_same_notifications_one_by_one(engine: Engine) -> None:
    one_by_one, in_batch = [], []
    for note in notes("a"):
        with engine.begin() as conn:
            single = intake_repo.IntakeBatch(conn, T0)
            one_by_one.append(single.store("one-by-one", note, b'{"x":1}', "application/fhir+json"))
            single.finish()
    with engine.begin() as conn:
        batch = intake_repo.IntakeBatch(conn, T0)
        in_batch = [batch.store("batched", n, b'{"x":1}', "application/fhir+json") for n in notes("b")]
        batch.finish()

    assert [(s.jobs, s.duplicates) for s in in_batch] == [(s.jobs, s.duplicates) for s in one_by_one]
    assert [(s.jobs, s.duplicates) for s in in_batch] == [
        (0, 0), (1, 0), (1, 0), (0, 0), (0, 1), (1, 0), (1, 0), (0, 1), (1, 0),
    ]  # fmt: skip
    state = subscription_state(engine, "batched")
    assert state == subscription_state(engine, "one-by-one")
    assert state["status"] == "active" and state["health"] == "degraded"  # the error was seen, then recovered
    assert state["events_since_start"] == 4 and state["events_checked"] == 0
    assert state["last_event_at"] == state["last_heartbeat_at"]
    same_but_ids = [
        tuple(v.replace("/b9", "/a9") if isinstance(v, str) else v for v in row) for row in jobs_of(engine, "batched")
    ]
    assert same_but_ids == jobs_of(engine, "one-by-one")
    assert len(jobs_of(engine, "batched")) == 5


def test_rows_written_through_the_driver_read_back_like_orm_rows(engine: Engine) -> None:
    """Timestamps stored by the driver path compare correctly with SQLAlchemy-bound ones (claiming jobs)."""
    note = notes()[1]
    with engine.begin() as conn:
        intake_repo.store_notification(
            conn, subscription_id="batched", note=note, body=b"\x00raw\xff", content_type=None, now=T0
        )
    expand(engine)
    with engine.connect() as conn:
        inbox = conn.execute(select(Inbox.body, Inbox.received_at)).one()
    assert inbox.body == b"\x00raw\xff"
    assert inbox.received_at.replace(tzinfo=UTC) == T0
    with engine.begin() as conn:  # not yet available a microsecond earlier; available at T0
        assert queue_repo.claim_jobs(conn, worker="w", now=T0 - timedelta(microseconds=1), lease=60, limit=5) == []
    with engine.begin() as conn:
        assert [j.event_number for j in queue_repo.claim_jobs(conn, worker="w", now=T0, lease=60, limit=5)] == [1]
