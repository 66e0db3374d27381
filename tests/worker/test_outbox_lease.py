"""Two workers' outbox rounds never deliver the same row (SQLite and PostgreSQL).

The claiming transaction of a round used to end before its deliveries, so the rows it had just read
were still ``pending`` and due for any other worker: on PostgreSQL ``SKIP LOCKED`` protected them
only until that commit. Here worker A's adapter, while delivering its first row, runs worker B's
whole round: B must find nothing of A's to send.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, select

from app.adapters.base import TemporaryDeliveryError
from app.db import outbox_repo
from app.db.models import Outbox
from app.metrics import Metrics
from app.retry import RetryPolicy
from app.worker.outbox import OutboxDispatcher

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Recorder:
    def __init__(self, name: str, sent: list[tuple[str, str]], during: Any = None) -> None:
        self.name, self.sent, self.during = name, sent, during

    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        self.sent.append((self.name, key))
        if self.during is not None:
            during, self.during = self.during, None
            during()


def dispatcher(engine: Any, adapter: Any, clock: Any = lambda: NOW) -> OutboxDispatcher:
    return OutboxDispatcher(engine=engine, adapters={"ehr": adapter}, policy=RetryPolicy(3, 1.0, 60.0),
                            metrics=Metrics(), clock=clock)  # fmt: skip


def enqueue(engine: Any, n: int) -> None:
    with engine.begin() as conn:
        for i in range(n):
            outbox_repo.enqueue(conn, destination="ehr", kind="task", key=f"k{i}", payload={"i": i}, now=NOW)


def test_a_second_worker_never_delivers_the_rows_a_round_has_claimed(db_url: str) -> None:
    engine_a, engine_b = create_engine(db_url), create_engine(db_url)  # two processes' engines
    enqueue(engine_a, 5)
    sent: list[tuple[str, str]] = []
    b = dispatcher(engine_b, Recorder("B", sent))
    a = dispatcher(engine_a, Recorder("A", sent, during=b.run_once))
    assert a.run_once() == 5
    assert sorted(sent) == [("A", f"k{i}") for i in range(5)]  # B sent none of them
    assert b.run_once() == 0  # all delivered: nothing left for anyone
    with engine_a.connect() as conn:
        assert {r.status for r in conn.execute(select(Outbox.__table__))} == {"delivered"}  # type: ignore[attr-defined]
    engine_a.dispose()
    engine_b.dispose()


class Failing:
    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        raise TemporaryDeliveryError("receiver down")


def test_rows_a_round_skips_are_due_again_at_once_and_a_dead_workers_rows_after_the_lease(db_url: str) -> None:
    engine = create_engine(db_url)
    enqueue(engine, 3)
    clock = {"now": NOW}
    failing = dispatcher(engine, Failing(), clock=lambda: clock["now"])
    failing.batch_size = 3
    failing.breakers["ehr"] = failing.breaker_for("ehr")
    for _ in range(failing.breakers["ehr"].threshold):
        failing.breakers["ehr"].record_failure(NOW - timedelta(days=1))  # opened long ago: one trial allowed
    assert failing.run_once() == 1  # the trial fails and re-opens the breaker; two rows not attempted
    with engine.connect() as conn:
        due = outbox_repo.due(conn, now=NOW, limit=10)
    assert len(due) == 2  # released: due now, not at the lease's end

    skipped = {d.id for d in due}
    with engine.begin() as conn:  # a worker claims them and dies before delivering
        claimed = outbox_repo.due(conn, now=NOW, limit=10, lease_until=NOW + timedelta(seconds=600))
    assert {d.id for d in claimed} == skipped
    with engine.connect() as conn:
        assert not skipped & {d.id for d in outbox_repo.due(conn, now=NOW + timedelta(seconds=599), limit=10)}
        assert skipped <= {d.id for d in outbox_repo.due(conn, now=NOW + timedelta(seconds=600), limit=10)}
    engine.dispose()
