"""Concurrency proof with real processes: two workers on PostgreSQL never process a notification twice
(helpers in ``test_reliability.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db.models import Job
from tests.spine.helpers import make_services, register
from tests.spine.test_reliability import (
    assert_exactly_once,
    done_count,
    enqueue,
    start_worker,
    stop,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.slow


def test_two_workers_on_postgres_never_process_a_notification_twice(postgres_db_url: str, tmp_path: Path) -> None:
    db_url = postgres_db_url
    count = 300  # batches of 10 from two processes interleave long before 300
    services = make_services(db_url, tmp_path)
    try:
        register(services, sub_id="claimbridge-demo")
        beats = [tmp_path / "w1.beat", tmp_path / "w2.beat"]
        workers = [
            start_worker(
                worker_env(
                    db_url, tmp_path, CLAIMBRIDGE_WORKER__BATCH_SIZE="10", CLAIMBRIDGE_WORKER__HEARTBEAT_FILE=str(beat)
                ),
                tmp_path / f"w{n}.log",
            )
            for n, beat in enumerate(beats, start=1)
        ]
        # both polling before the work exists: which worker takes the first batch is then not a start-up race
        wait_until(lambda: all(beat.exists() for beat in beats), timeout=120, procs=workers)
        enqueue(services, count)
        wait_until(lambda: done_count(services) == count, timeout=240, procs=workers)
        for proc in workers:
            stop(proc)
        assert_exactly_once(services, count)
        with services.engine.connect() as conn:
            by_worker = dict(conn.execute(select(Job.locked_by, func.count()).group_by(Job.locked_by)).all())
        assert len(by_worker) == 2 and all(n > 0 for n in by_worker.values()), by_worker
    finally:
        services.close()
