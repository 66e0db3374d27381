"""The worker's expansion duty: pending inbox rows become jobs once, fairly, a poison row isolated."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from app.api.app import create_app
from app.db import ehr_repo, intake_repo, migrate
from app.db.engine import make_engine
from app.db.models import Inbox, InboxKey, Job
from app.db.subscriptions_repo import add_subscription
from app.intake.notification import Event, Notification
from app.metrics import Metrics
from app.worker.expansion import InboxExpander
from tests.spine.helpers import SECRET, make_services, notification, register, sample_bundles

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HEADERS = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


def _engine(url: str) -> Engine:
    eng = make_engine(url)
    migrate.upgrade(eng)
    for sid in ("a", "b"):
        with eng.begin() as conn:
            add_subscription(
                conn, subscription_id=sid, secret=f"secret-{sid}-0123456789", ehr=None, signing_secret=None,
                content=None, topic=None, heartbeat_period=None, now=T0,
            )  # fmt: skip
    return eng


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = _engine(db_url)
    yield eng
    eng.dispose()


def note(bundle: str, *numbers: int) -> Notification:
    return Notification(
        kind="event-notification",
        subscription_id=None,
        bundle_id=bundle,
        status="active",
        content="id-only",
        events=tuple(Event(n, f"Encounter/e{n}", "1") for n in numbers),
    )


def store(engine: Engine, sid: str, *notes: Notification) -> list[intake_repo.Stored]:
    with engine.begin() as conn:
        batch = intake_repo.IntakeBatch(conn, T0)
        stored = [batch.store(sid, n, b"{}", None) for n in notes]
        batch.finish()
    return stored


def jobs(engine: Engine) -> list[tuple[str, int | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(Job.subscription_id, Job.event_number).order_by(Job.id))]


def statuses(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Inbox.status, func.count()).group_by(Inbox.status)).all())


def expander(engine: Engine, batch_size: int = 64) -> InboxExpander:
    return InboxExpander(engine=engine, metrics=Metrics(), batch_size=batch_size)


def test_intake_stores_one_pending_row_and_no_job(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    body = orjson.dumps(notification(sample_bundles(1)[0], 1))
    with TestClient(create_app(services)) as client:
        assert client.post("/notifications", content=body, headers=HEADERS).status_code == 202
        assert statuses(services.engine) == {"pending": 1} and jobs(services.engine) == []
        assert client.post("/notifications", content=body, headers=HEADERS).status_code == 200  # still pending
    assert expander(services.engine).run_if_due() == 1
    assert statuses(services.engine) == {"expanded": 1}
    assert jobs(services.engine) == [("claimbridge-demo", 1)]
    assert expander(services.engine).run_if_due() == 0
    services.close()


def test_an_event_carried_by_two_pending_rows_becomes_one_job(engine: Engine) -> None:
    (first,) = store(engine, "a", note("b1", 1, 2))
    (second,) = store(engine, "a", note("b2", 2, 3))  # another group commit, b1 not expanded yet
    assert (first.jobs, second.jobs) == (2, 1)  # 2 is held by b1's pending keys (inbox_key)
    assert expander(engine).drain() == 2
    assert sorted(jobs(engine)) == [("a", 1), ("a", 2), ("a", 3)]
    (third,) = store(engine, "a", note("b3", 2, 3))  # every event known now: nothing stored
    assert (third.inbox_id, third.jobs, third.duplicates) == (None, 0, 2)
    assert statuses(engine) == {"expanded": 2}


def test_a_poison_row_is_dead_lettered_and_the_others_expand(engine: Engine) -> None:
    store(engine, "a", note("p1", 1), note("p2", 2), note("p3", 3))
    with engine.begin() as conn:  # a row whose stored jobs cannot be read
        conn.execute(update(Inbox).where(Inbox.bundle_id == "p2").values(events="[[not json"))
    assert expander(engine).run_if_due() == 3
    assert jobs(engine) == [("a", 1), ("a", 3)]
    with engine.connect() as conn:
        dead = conn.execute(select(Inbox.bundle_id, Inbox.last_error).where(Inbox.status == "dead")).all()
    assert [d.bundle_id for d in dead] == ["p2"] and dead[0].last_error.startswith("expansion failed")
    assert expander(engine).run_if_due() == 0  # a dead row is not retried for ever


def test_a_multi_event_rows_keys_are_held_while_it_is_pending_only(engine: Engine) -> None:
    store(engine, "a", note("m1", 1, 2), note("m2", 3, 4))
    assert _keys(engine) == {"evt:a:1", "evt:a:2", "evt:a:3", "evt:a:4"}
    (again,) = store(engine, "a", note("m3", 2))  # one event of m1, alone: a duplicate
    assert (again.inbox_id, again.duplicates) == (None, 1)
    with engine.begin() as conn:  # m2 cannot be expanded
        conn.execute(update(Inbox).where(Inbox.bundle_id == "m2").values(events="[[not json"))
    expander(engine).drain()
    assert _keys(engine) == set()  # m1's jobs hold its keys; the dead m2 holds none
    (resent,) = store(engine, "a", note("m4", 3))  # so an event of the dead row is new work again
    assert resent.inbox_id is not None and resent.jobs == 1


def _keys(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(InboxKey.dedupe_key)).scalars())


def test_expansion_shares_a_batch_fairly_across_subscriptions(engine: Engine) -> None:
    store(engine, "a", *(note(f"a{n}", n) for n in range(1, 41)))
    store(engine, "b", note("b1", 1))  # after a's flood
    assert expander(engine, batch_size=10).run_if_due() == 10
    assert ("b", 1) in jobs(engine)


def test_a_round_that_only_expanded_starts_the_next_without_waiting(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, worker={"poll_interval_seconds": 600})
    register(services, sub_id="claimbridge-demo")
    body = orjson.dumps(notification(sample_bundles(1)[0], 1))
    with TestClient(create_app(services)) as client:
        assert client.post("/notifications", content=body, headers=HEADERS).status_code == 202
    worker = services.worker()

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run_forever(stop))
        for _ in range(6000):  # a bounded wait (>= 120 s), well under the 600 s poll interval
            if _done(services.engine):
                break
            await asyncio.sleep(0.02)
        stop.set()
        await task

    asyncio.run(run())
    assert _done(services.engine), "the job waited for a poll interval after its row was expanded"
    services.close()


def _done(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(Job.status == "done")).scalar_one() == 1


def test_two_workers_on_postgres_never_expand_one_row_twice(postgres_db_url: str) -> None:
    engine = _engine(postgres_db_url)
    store(engine, "a", *(note(f"r{n}", n, n + 1000) for n in range(1, 21)))  # two events each: no row key
    with engine.begin() as first:
        held = intake_repo.claim_pending(first, limit=5)  # locked until this transaction ends
        with engine.begin() as second:
            other = intake_repo.claim_pending(second, limit=100)
            for row in other:
                intake_repo.expand_row(second, row)
        for row in held:
            intake_repo.expand_row(first, row)
    assert {r.id for r in held}.isdisjoint({r.id for r in other}) and len(held) + len(other) == 20
    assert len(jobs(engine)) == 40 and statuses(engine) == {"expanded": 20}
    engine.dispose()


def test_the_gap_sweep_counts_events_of_pending_rows_as_received(engine: Engine) -> None:
    store(engine, "a", note("g1", 1), note("g2", 2, 3))  # acknowledged, not expanded: not a gap
    with engine.connect() as conn:
        assert ehr_repo.received_numbers(conn, "a", above=0, upto=5) == {1, 2, 3}
        assert ehr_repo.received_numbers(conn, "a", above=1, upto=2) == {2}
    expander(engine).drain()
    with engine.connect() as conn:
        assert ehr_repo.received_numbers(conn, "a", above=0, upto=5) == {1, 2, 3}
