"""The job loop: claim a batch, run each job in its own transaction, record failures.

``Worker.run_once`` is synchronous (one thread, one connection at a time); ``run_forever`` drives it
from asyncio until asked to stop, so ``claimbridge serve`` can run it beside the API and
``claimbridge worker`` alone. Several worker processes may share a PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from app.db import queue_repo
from app.db.queue_repo import ClaimedJob, LeaseLost
from app.logging import get_logger
from app.metrics import Metrics
from app.settings import WorkerSettings
from app.worker.errors import is_temporary
from app.worker.outbox import OutboxDispatcher
from app.worker.pipeline import Runtime, process_job
from app.worker.policy import RetryPolicy

log = get_logger("claimbridge.worker")


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**6):06x}"  # noqa: S311


@dataclass
class Worker:
    engine: Engine
    runtime: Runtime
    settings: WorkerSettings
    metrics: Metrics
    outbox: OutboxDispatcher | None = None
    worker_id: str = ""
    rng: random.Random = field(default_factory=random.Random)  # jitter only, not security

    def __post_init__(self) -> None:
        self.worker_id = self.worker_id or default_worker_id()
        self.policy = RetryPolicy(
            self.settings.max_attempts, self.settings.backoff_base_seconds, self.settings.backoff_cap_seconds
        )

    def claim(self) -> list[ClaimedJob]:
        with self.engine.begin() as conn:
            return queue_repo.claim_jobs(
                conn,
                worker=self.worker_id,
                now=self.runtime.clock(),
                lease=self.settings.lease_seconds,
                limit=self.settings.batch_size,
            )

    def run_once(self) -> int:
        """Process one batch of jobs and one round of deliveries; returns how many things were done."""
        jobs = self.claim()
        for job in jobs:
            self.run_job(job)
        delivered = self.outbox.run_once() if self.outbox else 0
        return len(jobs) + delivered

    def run_job(self, job: ClaimedJob) -> None:
        started = time.perf_counter()
        try:
            with self.engine.begin() as conn:
                result = process_job(conn, job, runtime=self.runtime)
                queue_repo.finish_job(
                    conn, job_id=job.id, worker=self.worker_id, result=result, now=self.runtime.clock()
                )
        except LeaseLost:
            log.warning("job.lease_lost", job=job.id)
            return
        except Exception as exc:  # classified below; nothing is half-stored (transaction rolled back)
            self.record_failure(job, exc)
            return
        finally:
            self.metrics.latency.observe(time.perf_counter() - started)
        self.metrics.jobs_processed.labels(result=_result_kind(result)).inc()
        log.info("job.done", job=job.id, focus=job.focus, version=job.version_id, result=result)

    def record_failure(self, job: ClaimedJob, exc: Exception) -> None:
        now = self.runtime.clock()
        temporary = is_temporary(exc)
        retry_at = self.policy.next_retry(attempts=job.attempts + 1, now=now, rng=self.rng) if temporary else None
        reason = f"{type(exc).__name__}: {exc}"
        with self.engine.begin() as conn:
            outcome = queue_repo.fail_job(
                conn, job_id=job.id, worker=self.worker_id, error=reason, retry_at=retry_at, now=now
            )
        if outcome == "dead":
            self.metrics.jobs_dead.inc()
            log.error("job.dead_lettered", job=job.id, focus=job.focus, reason=reason, temporary=temporary)
        else:
            self.metrics.jobs_retried.inc()
            log.warning("job.retry", job=job.id, focus=job.focus, reason=reason, retry_at=retry_at)

    def drain(self, *, max_rounds: int = 100_000) -> int:
        """Run until nothing is claimable (jobs waiting for a backoff are left); returns jobs run."""
        total = 0
        for _ in range(max_rounds):
            done = self.run_once()
            total += done
            if done == 0:
                break
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        log.info("worker.started", worker=self.worker_id)
        while not stop.is_set():
            try:
                done = await asyncio.to_thread(self.run_once)
            except Exception as exc:  # database down: keep the loop alive, back off
                log.error("worker.loop_error", error=f"{type(exc).__name__}: {exc}")
                done = 0
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.poll_interval_seconds)
        log.info("worker.stopped", worker=self.worker_id)


def _result_kind(result: str) -> str:
    if result in ("superseded", "no-claim", "no-focus"):
        return result
    return "unchanged" if result.endswith(":unchanged") else "claim"
