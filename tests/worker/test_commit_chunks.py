"""How long a job's result waits for its chunk and batch: commit by time, claim ahead only on a backlog."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import event

from app.db.queue_repo import ClaimedJob
from app.worker.prefetch import Outcome
from tests.spine.helpers import clone_bundle, make_services, register, sample_bundles
from tests.worker.test_batch_commit import jobs, store


def test_a_chunk_commits_once_its_jobs_have_run_commit_after_seconds(db_url: str, tmp_path: Path) -> None:
    # a budget every job exceeds: each job commits on its own though jobs_per_commit would take all 4
    svc = make_services(db_url, tmp_path, worker={"batch_size": 4, "jobs_per_commit": 4, "commit_after_seconds": 1e-9})
    try:
        register(svc, sub_id="claimbridge-demo")
        store(svc, [clone_bundle(sample_bundles(1)[0], f"t{n}") for n in range(4)])
        worker = dataclasses.replace(svc.worker(worker_id="w"), duties=())
        commits: list[int] = []
        event.listen(svc.engine, "commit", lambda *_: commits.append(1))
        assert worker.drain() == 4
        assert {s for _, s, _, _ in jobs(svc)} == {"done"}
        each = len(commits)
        commits.clear()
        store(svc, [clone_bundle(sample_bundles(1)[0], f"u{n}") for n in range(4)], first=100)
        worker.settings = worker.settings.model_copy(update={"commit_after_seconds": 600.0})
        assert worker.drain() == 4
        # the same four jobs with a budget none reaches: one commit for the four instead of four
        assert each - len(commits) >= 2, (each, len(commits))
    finally:
        svc.close()


def test_jobs_arriving_while_a_partial_batch_runs_are_left_to_a_free_worker(db_url: str, tmp_path: Path) -> None:
    svc = make_services(db_url, tmp_path, worker={"batch_size": 10})
    try:
        register(svc, sub_id="claimbridge-demo")
        base = sample_bundles(1)[0]
        store(svc, [clone_bundle(base, f"p{n}") for n in range(3)])  # a partial batch: the queue drained
        worker = dataclasses.replace(svc.worker(worker_id="w"), duties=())
        real = worker.prefetch
        assert real is not None
        arrived: list[bool] = []

        def prefetch_then_more_arrive(batch: Sequence[ClaimedJob], now: datetime) -> Mapping[int, Outcome]:
            out = real(batch, now)
            if not arrived:  # three notifications stored while the first batch is prepared
                arrived.append(True)
                store(svc, [clone_bundle(base, f"q{n}") for n in range(3)], first=100)
            return out

        worker = dataclasses.replace(worker, prefetch=prefetch_then_more_arrive)
        assert worker.run_once() == 3
        waiting = [j for j in jobs(svc) if j[1] == "pending"]
        assert len(waiting) == 3
        assert all(locked_until is None for *_, locked_until in waiting), "claimed ahead behind a partial batch"
        assert worker.drain() == 3
        worker.close()
        assert {s for _, s, _, _ in jobs(svc)} == {"done"}
    finally:
        svc.close()
