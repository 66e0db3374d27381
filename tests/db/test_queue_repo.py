"""The job queue on SQLite and PostgreSQL: leases, per-key order, retries, dead letters, replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from app.db import intake_repo, migrate, queue_repo
from app.db.engine import make_engine
from app.db.queue_repo import LeaseLost
from app.intake.notification import Event, Notification

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Engine:
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def enqueue(engine: Engine, number: int, focus: str, key_resource: dict | None = None) -> None:
    resources = ((key_resource, None),) if key_resource else ()
    note = Notification(
        kind="event-notification",
        subscription_id="s1",
        bundle_id=f"b{number}",
        content="full-resource",
        events=(Event(number, focus, "1"),),
        resources=resources,
    )
    with engine.begin() as conn:
        intake_repo.store_notification(conn, subscription_id="s1", note=note, body=b"{}", content_type=None, now=T0)


def claim(engine: Engine, worker: str, now: datetime = T0, limit: int = 10) -> list[queue_repo.ClaimedJob]:
    with engine.begin() as conn:
        return queue_repo.claim_jobs(conn, worker=worker, now=now, lease=60, limit=limit)


def test_migrations_are_current(engine: Engine) -> None:
    assert migrate.is_current(engine)


def test_same_encounter_jobs_run_in_order_others_in_parallel(engine: Engine) -> None:
    enqueue(engine, 1, "Encounter/a")
    enqueue(engine, 2, "Encounter/a")
    enqueue(engine, 3, "Encounter/b")
    first = claim(engine, "w1")
    assert [(j.event_number, j.key) for j in first] == [(1, "Encounter/a"), (3, "Encounter/b")]
    assert claim(engine, "w2") == []  # job 2 waits for job 1; leased jobs are not handed out twice
    with engine.begin() as conn:
        queue_repo.finish_job(conn, job_id=first[0].id, worker="w1", result="ok", now=T0)
    assert [j.event_number for j in claim(engine, "w2")] == [2]


def test_order_key_follows_the_encounter_an_order_belongs_to(engine: Engine) -> None:
    order = {"resourceType": "ServiceRequest", "id": "sr1", "encounter": {"reference": "Encounter/a"}}
    enqueue(engine, 1, "Encounter/a")
    enqueue(engine, 2, "ServiceRequest/sr1", order)
    assert [j.key for j in claim(engine, "w1")] == ["Encounter/a"]


def test_expired_lease_is_reclaimed_and_the_old_holder_cannot_finish(engine: Engine) -> None:
    enqueue(engine, 1, "Encounter/a")
    job = claim(engine, "w1")[0]
    later = T0 + timedelta(seconds=61)
    again = claim(engine, "w2", now=later)
    assert [j.id for j in again] == [job.id]
    with pytest.raises(LeaseLost), engine.begin() as conn:
        queue_repo.finish_job(conn, job_id=job.id, worker="w1", result="late", now=later)
    with engine.begin() as conn:
        queue_repo.finish_job(conn, job_id=job.id, worker="w2", result="ok", now=later)


def test_failures_back_off_then_dead_letter_then_replay(engine: Engine) -> None:
    enqueue(engine, 1, "Encounter/a")
    job = claim(engine, "w1")[0]
    with engine.begin() as conn:
        assert (
            queue_repo.fail_job(
                conn, job_id=job.id, worker="w1", error="503", retry_at=T0 + timedelta(seconds=5), now=T0
            )
            == "retry"
        )
    assert claim(engine, "w1", now=T0 + timedelta(seconds=4)) == []
    job = claim(engine, "w1", now=T0 + timedelta(seconds=5))[0]
    assert job.attempts == 1
    with engine.begin() as conn:
        assert (
            queue_repo.fail_job(conn, job_id=job.id, worker="w1", error="bad resource", retry_at=None, now=T0) == "dead"
        )
        dead = queue_repo.list_dead(conn)
    assert [(d.id, d.reason, d.attempts) for d in dead] == [(job.id, "bad resource", 2)]
    assert claim(engine, "w1", now=T0 + timedelta(hours=1)) == []
    with engine.begin() as conn:
        assert queue_repo.replay(conn, job_ids=None, now=T0) == 1
    replayed = claim(engine, "w1", now=T0 + timedelta(seconds=1))
    assert [(j.id, j.attempts) for j in replayed] == [(job.id, 0)]


def test_dead_job_does_not_block_later_jobs_of_the_same_encounter(engine: Engine) -> None:
    enqueue(engine, 1, "Encounter/a")
    enqueue(engine, 2, "Encounter/a")
    job = claim(engine, "w1")[0]
    with engine.begin() as conn:
        queue_repo.fail_job(conn, job_id=job.id, worker="w1", error="x", retry_at=None, now=T0)
    assert [j.event_number for j in claim(engine, "w1")] == [2]


def test_duplicate_events_and_bundles_store_nothing(engine: Engine) -> None:
    enqueue(engine, 1, "Encounter/a")
    enqueue(engine, 1, "Encounter/a")  # same event number, same bundle id
    note = Notification(
        kind="event-notification", subscription_id="s1", bundle_id="other", events=(Event(1, "Encounter/a", "1"),)
    )
    with engine.begin() as conn:
        stored = intake_repo.store_notification(
            conn, subscription_id="s1", note=note, body=b"{}", content_type=None, now=T0
        )
        assert (stored.inbox_id, stored.jobs, stored.duplicates) == (None, 0, 1)
        assert queue_repo.queue_stats(conn).pending == 1
