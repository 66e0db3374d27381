"""The job runner with EHR connectivity: fetch before the transaction, sweep for gaps, honour Retry-After.

:class:`EhrWorker` is the :class:`~app.worker.runner.Worker` with three additions, each outside any
database transaction:

- before running a claimed batch, step 1b (:func:`~app.ehr.prefetch.prefetch_batch`) fetches what
  the notifications lack, concurrently; each job then runs the unchanged transaction
  (:func:`~app.worker.pipeline.process_job`) with its result, or fails with the fetch's error
  (temporary: the worker's backoff; fatal, e.g. a 401 after re-authorization: dead letter);
- a temporary error that carried ``Retry-After`` defers the job's next attempt at least that long;
- every ``ehr.sweep_interval_seconds`` the subscription sweep (:class:`~app.ehr.recovery.Sweeper`);
- the clearinghouse duties on their own periods (:class:`~app.worker.clearinghouse.ClearinghouseCycle`):
  batch submission of ready claims (837P) and pick-up of 999/277CA/835 responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from app.adapters.ehr import bind_ehr_adapters
from app.adapters.registry import build_adapters, build_response_source
from app.db import ehr_repo
from app.db.queue_repo import ClaimedJob
from app.ehr.gateway import EhrGateway
from app.ehr.prefetch import Outcome, prefetch_batch
from app.ehr.recovery import Sweeper
from app.fhir.errors import FhirError
from app.logging import get_logger
from app.worker.clearinghouse import ClearinghouseCycle
from app.worker.errors import is_temporary
from app.worker.outbox import OutboxDispatcher
from app.worker.policy import RetryPolicy
from app.worker.runner import Worker

if TYPE_CHECKING:
    from app.services import Services

log = get_logger("claimbridge.worker")


@dataclass
class EhrWorker(Worker):
    gateway: EhrGateway | None = None
    sweeper: Sweeper | None = None
    clearinghouse: ClearinghouseCycle | None = None

    def run_once(self) -> int:
        swept = self.sweeper.run_if_due() if self.sweeper else 0
        jobs = self.claim()
        outcomes = self.prepare(jobs)
        for job in jobs:
            self.run_prepared(job, outcomes.get(job.id))
        billed = self.clearinghouse.run_if_due() if self.clearinghouse else 0
        delivered = self.outbox.run_once() if self.outbox else 0
        return len(jobs) + delivered + swept + billed

    def prepare(self, jobs: Sequence[ClaimedJob]) -> dict[int, Outcome]:
        if not jobs or self.gateway is None:
            return {}
        try:
            return prefetch_batch(self.engine, jobs, gateway=self.gateway, now=self.runtime.clock())
        except Exception as exc:  # the database or the gateway itself failed: every job retries
            return {job.id: exc for job in jobs}

    def run_prepared(self, job: ClaimedJob, outcome: Outcome | None) -> None:
        if isinstance(outcome, Exception):
            self.record_failure(job, outcome)
            return
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is not None:
            if outcome.fetched is not None:
                log.info(
                    "job.fetched",
                    job=job.id,
                    focus=job.focus,
                    ehr=outcome.ehr,
                    round_trips=outcome.fetched.round_trips,
                    gone=outcome.fetched.gone,
                )
            self.runtime.prepared.put(job.id, outcome)
        try:
            self.run_job(job)
        finally:
            self.runtime.prepared.take(job.id)

    def record_failure(self, job: ClaimedJob, exc: Exception) -> None:
        super().record_failure(job, exc)
        wait = exc.retry_after if isinstance(exc, FhirError) else None
        if wait and is_temporary(exc):
            with self.engine.begin() as conn:
                ehr_repo.defer_job(conn, job.id, not_before=self.runtime.clock() + timedelta(seconds=wait))


def build_worker(services: Services, *, worker_id: str = "") -> EhrWorker:
    """The worker of ``claimbridge worker``/``serve``: jobs, EHR fetches, gap sweep, clearinghouse, outbox."""
    settings = services.settings
    gateway = services.ehr_gateway()
    adapters = build_adapters(settings)
    outbox = OutboxDispatcher(
        engine=services.engine,
        adapters=bind_ehr_adapters(adapters, gateway),
        policy=RetryPolicy(settings.outbox.max_attempts, 1.0, settings.outbox.backoff_cap_seconds),
        metrics=services.metrics,
        clock=services.clock,
        settings=settings.outbox,
    )
    cycle = ClearinghouseCycle(
        submitter=services.submitter(),
        ingester=services.ingester(),
        source=build_response_source(settings, adapters),
        settings=settings.clearinghouse,
        clock=services.clock,
    )
    sweeper = Sweeper(
        engine=services.engine, gateway=gateway, settings=settings.ehr, metrics=services.metrics, clock=services.clock
    )
    return EhrWorker(
        engine=services.engine,
        runtime=services.runtime(),
        settings=settings.worker,
        metrics=services.metrics,
        outbox=outbox,
        worker_id=worker_id,
        gateway=gateway,
        sweeper=sweeper,
        clearinghouse=cycle,
    )
