"""Jobs are claimed in turns across subscriptions: a flood from one never starves another (SQLite, PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from app.db import intake_repo, migrate, queue_repo
from app.db.engine import make_engine
from app.intake.notification import Event, Notification

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def enqueue(engine: Engine, subscription: str, numbers: range) -> None:
    note = Notification(
        kind="event-notification",
        subscription_id=subscription,
        bundle_id=f"{subscription}-{numbers.start}",
        content="id-only",
        events=tuple(Event(n, f"Encounter/{subscription}-{n}", "1") for n in numbers),
    )
    with engine.begin() as conn:
        intake_repo.store_notification(
            conn, subscription_id=subscription, note=note, body=b"{}", content_type=None, now=T0
        )


def claim(engine: Engine, limit: int) -> list[queue_repo.ClaimedJob]:
    with engine.begin() as conn:
        return queue_repo.claim_jobs(conn, worker="w", now=T0, lease=60, limit=limit)


def test_jobs_are_taken_in_turns_across_subscriptions(engine: Engine) -> None:
    enqueue(engine, "a", range(1, 4))
    enqueue(engine, "b", range(1, 4))
    enqueue(engine, "c", range(1, 2))
    taken = [(j.subscription_id, j.event_number) for j in claim(engine, 5)]
    assert taken == [("a", 1), ("b", 1), ("c", 1), ("a", 2), ("b", 2)]


def test_a_flood_from_one_subscription_does_not_starve_another(engine: Engine) -> None:
    for start in range(1, 5001, 1000):  # 5,000 jobs, five notifications at the 1,000-event cap
        enqueue(engine, "flood", range(start, start + 1000))
    enqueue(engine, "quiet", range(1, 2))  # arrives last
    if engine.dialect.name == "postgresql":  # what autovacuum does after such a flood; without
        with engine.begin() as conn:  # statistics the planner takes the tiny table's plan (seconds)
            conn.execute(text("ANALYZE job"))
    started = time.perf_counter()
    first = claim(engine, 20)
    elapsed = time.perf_counter() - started
    assert ("quiet", 1) in [(j.subscription_id, j.event_number) for j in first]
    assert [j.event_number for j in first if j.subscription_id == "flood"] == list(range(1, 20))  # the rest
    print(f"fair claim over 5,001 pending jobs: {elapsed * 1000:.1f} ms")
