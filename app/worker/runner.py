"""The one worker: claim a batch, prefetch outside any transaction, run each job in its own
transaction, record failures, then the periodic duties.

::

    run_once
      1 claim       a batch of due jobs, leased to this worker (FOR UPDATE SKIP LOCKED on PostgreSQL)
      2 prefetch    step 1b (:mod:`app.worker.prefetch`): what the notifications lack, from the EHR,
                    concurrently and outside any transaction; its result is handed to each job.
                    With ``prefetch_ahead`` the NEXT batch is claimed and prefetched on a helper
                    thread while this one is processed (id-only fetches overlap processing)
      3 run         :func:`~app.worker.pipeline.process_job` per job; ``jobs_per_commit`` jobs share
                    one transaction, first without savepoints and with their resources stored in the
                    mirror together (one read, one write: ``gather_batch``); if any job fails the transaction is
                    rolled back whole and the jobs run again, each inside its own SAVEPOINT: a job
                    that fails is rolled back to its savepoint and recorded as failed in the same
                    transaction, the others commit. Should the shared commit itself fail, the jobs
                    run again one transaction each (nothing was stored)
      4 duties      a duty's ``after_jobs()``, if it has one, right after the batch (eligibility:
                    the checks the jobs requested go out now); then each periodic duty in order (gap
                    sweep, clearinghouse submit and poll, outbox); each decides itself whether it is due

Collaborators are injected (:func:`app.services.build_worker` wires them); the worker knows no EHR,
adapter or clearinghouse type. Failures are classified once by :func:`app.errors.is_temporary`: a
temporary one goes back to the queue at the one :class:`~app.retry.RetryPolicy`'s time (exactly
the server's Retry-After when it sent one), a fatal one is dead-lettered with its reason.

``run_once`` is synchronous (one thread, one connection at a time); ``run_forever`` drives it from
asyncio until asked to stop, so ``claimbridge serve`` runs it beside the API and ``claimbridge
worker`` alone. Several worker processes may share a PostgreSQL database, each with all or some of
the duties (``jobs=False``: no claiming; :mod:`app.worker.duties`, ``claimbridge worker --duties``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import random
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine

from app.db import queue_repo
from app.db.errors import describe_error
from app.db.queue_repo import ClaimedJob, LeaseLost
from app.errors import is_temporary, retry_after_of
from app.logging import get_logger
from app.metrics import Metrics
from app.retry import RetryPolicy
from app.settings import WorkerSettings
from app.worker import pipeline
from app.worker.pipeline import Runtime, process_job
from app.worker.prefetch import Outcome, Prepared

log = get_logger("claimbridge.worker")
T = TypeVar("T")

#: Step 1b: the claimed batch and the time -> each job's prepared input, or the error it met.
Prefetch = Callable[[Sequence[ClaimedJob], datetime], Mapping[int, Outcome]]


class Duty(Protocol):
    """A periodic task of the worker (gap sweep, clearinghouse cycle, outbox delivery)."""

    def run_if_due(self) -> int:
        """Do the work if its period has come; returns how many things were done."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**6):06x}"  # noqa: S311


@dataclass
class Worker:
    engine: Engine
    runtime: Runtime
    settings: WorkerSettings
    metrics: Metrics
    prefetch: Prefetch | None = None
    duties: Sequence[Duty] = ()
    worker_id: str = ""
    #: False: this process claims no jobs, it runs its duties only (``claimbridge worker --duties``).
    jobs: bool = True
    rng: random.Random = field(default_factory=random.Random)  # jitter only, not security

    def __post_init__(self) -> None:
        self.worker_id = self.worker_id or default_worker_id()
        self.policy = RetryPolicy(
            self.settings.max_attempts, self.settings.backoff_base_seconds, self.settings.backoff_cap_seconds
        )
        self._ahead: tuple[list[ClaimedJob], concurrent.futures.Future[Mapping[int, Outcome]]] | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def duty(self, kind: type[T]) -> T:
        """The duty of type ``kind`` (for operators' commands and tests)."""
        found = next((d for d in self.duties if isinstance(d, kind)), None)
        if found is None:
            raise LookupError(f"this worker has no {kind.__name__} duty")
        return found

    def claim(self) -> list[ClaimedJob]:
        if not self.jobs:
            return []
        with self.engine.begin() as conn:
            return queue_repo.claim_jobs(
                conn,
                worker=self.worker_id,
                now=self.runtime.clock(),
                lease=self.settings.lease_seconds,
                limit=self.settings.batch_size,
            )

    def run_once(self) -> int:
        """One batch of jobs, then one round of the duties; returns how many things were done."""
        jobs, prepared = self.next_batch()
        if jobs and self.prefetch is not None and self.settings.prefetch_ahead:
            self.claim_ahead(exclude=frozenset(job.id for job in jobs))
        self.run_batch(jobs, prepared)
        done = len(jobs)
        if jobs:  # what the batch's jobs set off starts now (eligibility checks), not after the other duties
            done += sum(hook() for d in self.duties if (hook := getattr(d, "after_jobs", None)) is not None)
        return done + sum(d.run_if_due() for d in self.duties)

    def next_batch(self) -> tuple[list[ClaimedJob], Mapping[int, Outcome]]:
        """The batch claimed ahead (its prefetch awaited), else a newly claimed and prepared one."""
        if self._ahead is not None:
            jobs, future = self._ahead
            self._ahead = None
            return jobs, future.result()
        jobs = self.claim()
        return jobs, self.prepare(jobs)

    def claim_ahead(self, *, exclude: frozenset[int] = frozenset()) -> None:
        """Claim the next batch now and run its step 1b on the helper thread.

        ``exclude``: the batch about to run. Its leases may have expired while it waited (a lease
        shorter than a batch), so the claim can return its jobs again; they are this worker's and
        are finished by the current batch, not run twice.
        """
        jobs = [job for job in self.claim() if job.id not in exclude]
        if jobs:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="claimbridge-prefetch")
            self._ahead = (jobs, self._pool.submit(self.prepare, jobs))

    def finish_ahead(self) -> int:
        """Process the batch claimed ahead, if any (on shutdown: no lease is left behind)."""
        if self._ahead is None:
            return 0
        jobs, prepared = self.next_batch()
        self.run_batch(jobs, prepared)
        return len(jobs)

    def close(self) -> None:
        """Finish the batch claimed ahead and stop the helper thread."""
        self.finish_ahead()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def run_batch(self, jobs: Sequence[ClaimedJob], prepared: Mapping[int, Outcome]) -> None:
        """Step 3: failures of step 1b are recorded, the rest run ``jobs_per_commit`` per transaction."""
        runnable: list[tuple[ClaimedJob, Prepared | None]] = []
        for job in jobs:
            outcome = prepared.get(job.id)
            if isinstance(outcome, BaseException):
                self.record_failure(job, outcome)
            else:
                runnable.append((job, outcome))
        size = self.settings.jobs_per_commit
        for start in range(0, len(runnable), size):
            chunk = runnable[start : start + size]
            if len(chunk) == 1:
                self.run_job(*chunk[0])
            else:
                self.run_jobs_together(chunk)

    def prepare(self, jobs: Sequence[ClaimedJob]) -> Mapping[int, Outcome]:
        if not jobs or self.prefetch is None:
            return {}
        try:
            return self.prefetch(jobs, self.runtime.clock())
        except Exception as exc:  # the database or the gateway itself failed: every job retries
            return {job.id: exc for job in jobs}

    def run_job(self, job: ClaimedJob, prepared: Prepared | None = None) -> None:
        """One job in its own transaction."""
        _log_fetched(job, prepared)
        started = time.perf_counter()
        try:
            with self.engine.begin() as conn:
                result = self._process(conn, job, prepared)
        except LeaseLost:
            log.warning("job.lease_lost", job=job.id)
            return
        except Exception as exc:  # classified below; nothing is half-stored (transaction rolled back)
            self.record_failure(job, exc)
            return
        finally:
            self.metrics.latency.observe(time.perf_counter() - started)
        self._report_done(job, result)

    def run_jobs_together(self, chunk: Sequence[tuple[ClaimedJob, Prepared | None]]) -> None:
        """Several jobs in one transaction; a failing job never takes the others down.

        First without savepoints (two statements fewer per job), the chunk's resources stored in the
        mirror before its first job runs on (:func:`~app.worker.pipeline.gather_batch`: one read of
        the stored versions and one write for the chunk), and with the jobs marked done in one
        statement at the end: should any job fail (an invalid resource in any job's notification
        included), a lease be lost or the commit fail, the whole transaction is rolled back, nothing of
        the chunk is stored, and the chunk runs again with a SAVEPOINT per job (:meth:`run_jobs_guarded`:
        each job gathers and upserts its own), where the failing job alone is rolled back and
        recorded. Running a job twice is safe: it is a function of the database and its prepared
        input, and its first run left nothing behind.
        """
        done: list[tuple[ClaimedJob, str, float]] = []
        try:
            with self.engine.begin() as conn:
                started = time.perf_counter()
                gathered = (  # one mirror read and write; a smaller chunk: per job (ADR 0026)
                    pipeline.gather_batch(conn, chunk, runtime=self.runtime)
                    if len(chunk) >= self.settings.batch_gather_min_jobs
                    else {}
                )
                shared = (time.perf_counter() - started) / len(chunk)  # each job's share of it
                for job, prepared in chunk:
                    _log_fetched(job, prepared)
                    started = time.perf_counter() - shared
                    result = process_job(
                        conn, job, runtime=self.runtime, prepared=prepared, gathered=gathered.get(job.id)
                    )
                    done.append((job, result, time.perf_counter() - started))
                finished = [(job.id, result) for job, result, _ in done]  # one statement for the chunk
                queue_repo.finish_jobs(conn, finished, worker=self.worker_id, now=self.runtime.clock())
        except Exception as exc:  # rolled back as a whole: run it again, a savepoint per job
            log.info("worker.batch_guarded", jobs=len(chunk), failed_after=len(done), error=type(exc).__name__)
            self.run_jobs_guarded(chunk)
            return
        for job, result, seconds in done:
            self.metrics.latency.observe(seconds)
            self._report_done(job, result)

    def run_jobs_guarded(self, chunk: Sequence[tuple[ClaimedJob, Prepared | None]]) -> None:
        """Several jobs in one transaction, a SAVEPOINT each; a failing job never takes the others down."""
        done: list[tuple[ClaimedJob, str]] = []
        failed: list[tuple[ClaimedJob, Failure]] = []
        try:
            with self.engine.begin() as conn:
                for job, prepared in chunk:
                    _log_fetched(job, prepared)
                    started = time.perf_counter()
                    try:
                        with conn.begin_nested():
                            done.append((job, self._process(conn, job, prepared)))
                    except LeaseLost:
                        log.warning("job.lease_lost", job=job.id)
                    except Exception as exc:  # rolled back to its savepoint; recorded in this transaction
                        failure = self.classify(job, exc)
                        failure.outcome = self._store_failure(conn, job, failure)
                        failed.append((job, failure))
                    finally:
                        self.metrics.latency.observe(time.perf_counter() - started)
        except Exception as exc:  # the shared commit failed: nothing was stored, run them one by one
            log.warning("worker.batch_commit_failed", jobs=len(chunk), error=type(exc).__name__)
            for job, prepared in chunk:
                self.run_job(job, prepared)
            return
        for job, result in done:
            self._report_done(job, result)
        for job, failure in failed:
            self._report_failure(job, failure)

    def _process(self, conn: Connection, job: ClaimedJob, prepared: Prepared | None) -> str:
        result = process_job(conn, job, runtime=self.runtime, prepared=prepared)
        queue_repo.finish_job(conn, job_id=job.id, worker=self.worker_id, result=result, now=self.runtime.clock())
        return result

    def _report_done(self, job: ClaimedJob, result: str) -> None:
        self.metrics.jobs_processed.labels(result=_result_kind(result)).inc()
        log.info("job.done", job=job.id, focus=job.focus, version=job.version_id, result=result)

    def classify(self, job: ClaimedJob, exc: Exception) -> Failure:
        """Temporary (retry at the policy's time, Retry-After honoured) or fatal (dead letter)."""
        temporary = is_temporary(exc)
        held = retry_after_of(exc)
        if temporary and held is not None and not getattr(exc, "attempted", True):
            # nothing was sent (the partner's Retry-After holds): deferred, the attempt not counted
            when = self.runtime.clock() + timedelta(seconds=held)
            return Failure(reason=describe_error(exc), temporary=True, retry_at=when, attempted=False)
        retry_at = (
            self.policy.next_retry(
                attempts=job.attempts + 1,
                now=self.runtime.clock(),
                rand=self.rng.random,
                retry_after=retry_after_of(exc),
            )
            if temporary
            else None
        )
        return Failure(reason=describe_error(exc), temporary=temporary, retry_at=retry_at)

    def record_failure(self, job: ClaimedJob, exc: BaseException) -> None:
        if not isinstance(exc, Exception):
            raise exc  # KeyboardInterrupt, SystemExit: not a job failure
        failure = self.classify(job, exc)
        with self.engine.begin() as conn:
            failure.outcome = self._store_failure(conn, job, failure)
        self._report_failure(job, failure)

    def _store_failure(self, conn: Connection, job: ClaimedJob, failure: Failure) -> str:
        return queue_repo.fail_job(
            conn,
            job_id=job.id,
            worker=self.worker_id,
            error=failure.reason,
            retry_at=failure.retry_at,
            now=self.runtime.clock(),
            attempted=failure.attempted,
        )

    def _report_failure(self, job: ClaimedJob, failure: Failure) -> None:
        if failure.outcome == "dead":
            self.metrics.jobs_dead.inc()
            log.error(
                "job.dead_lettered", job=job.id, focus=job.focus, reason=failure.reason, temporary=failure.temporary
            )
        else:
            self.metrics.jobs_retried.inc()
            log.warning("job.retry", job=job.id, focus=job.focus, reason=failure.reason, retry_at=failure.retry_at)

    def drain(self, *, max_rounds: int = 100_000) -> int:
        """Run until nothing is claimable (jobs waiting for a backoff are left); returns things done."""
        total = 0
        for _ in range(max_rounds):
            done = self.run_once()
            total += done
            if done == 0:
                break
        return total

    def _beat(self) -> None:
        """Touch ``worker.heartbeat_file`` (the liveness probe reads its age)."""
        if self.settings.heartbeat_file is not None:
            with contextlib.suppress(OSError):
                self.settings.heartbeat_file.touch()

    async def run_forever(self, stop: asyncio.Event) -> None:
        log.info("worker.started", worker=self.worker_id)
        self._beat()
        while not stop.is_set():
            try:
                done = await asyncio.to_thread(self.run_once)
            except Exception as exc:  # database down: keep the loop alive, back off
                log.error("worker.loop_error", error=describe_error(exc))
                done = 0
            self._beat()
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.poll_interval_seconds)
        try:
            await asyncio.to_thread(self.close)
        except Exception as exc:  # database down at shutdown: the leases of that batch expire
            log.error("worker.close_error", error=f"{type(exc).__name__}: {exc}")
        log.info("worker.stopped", worker=self.worker_id)


@dataclass
class Failure:
    """A job's failure, classified: its reason, whether it is retried and when, and what was stored."""

    reason: str
    temporary: bool
    retry_at: datetime | None
    outcome: str = ""
    #: False: nothing was sent (held by a partner's Retry-After); the job's attempts are not counted.
    attempted: bool = True


def _log_fetched(job: ClaimedJob, prepared: Prepared | None) -> None:
    if prepared is not None and prepared.fetched is not None:
        fetched = prepared.fetched
        log.info(
            "job.fetched",
            job=job.id,
            focus=job.focus,
            ehr=prepared.ehr,
            round_trips=fetched.round_trips,
            gone=fetched.gone,
        )


def _result_kind(result: str) -> str:
    if result in ("superseded", "no-claim", "no-focus"):
        return result
    return "unchanged" if result.endswith(":unchanged") else "claim"
