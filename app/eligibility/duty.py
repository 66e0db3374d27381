"""The worker's eligibility duty: due verifications out, answers in; also the 24-hour scheduler.

Each round (:meth:`EligibilityDuty.run_if_due`):

0. **ahead**: the checks of the notifications stored since the last round whose jobs wait (or are
   not expanded yet), planned from those notifications and sent now (:mod:`app.eligibility.ahead`);
1. **collect** the verifications that finished since the last round: one transaction stores the
   results and queues their write-back (a CoverageEligibilityResponse and a Task per error,
   through the outbox);
2. **dispatch** the due ones (pending and due, or running with an expired lease), claimed with a
   lease in one short transaction that also reads each request from the mirror; then, with no
   transaction open, hands them to the :class:`~app.eligibility.runner.EligibilityRunner`;
3. **give up waiting** on checks with no result ``claim_wait_seconds`` (payer profile) after they
   fell due: an interim ``unverified`` result (replaced by the answer if it still comes), so their
   claims, which the submitter holds back while a verification of the visit is under way, are
   released with an ``eligibility.unverified`` warning;
4. **re-evaluate** the claims of stored results not applied yet (the injected ``reevaluate``, each
   encounter once, marked in the same transaction): ``reevaluate_per_round`` per round when no
   notification work waits, only ``reevaluate_while_busy`` while jobs or inbox rows not expanded yet
   wait, so notifications keep their throughput and no long transaction holds up the answers still
   arriving.

The worker also calls :meth:`EligibilityDuty.after_jobs` right after each batch of jobs commits:
the checks those jobs requested go to the payer at once, not after the round's other duties.

A ``day-before`` check is due 24 hours before its appointment, so claiming due rows *is* the
scheduler; one whose appointment was cancelled or moved is skipped. With a folder clearinghouse
(``batch``), the due day-before checks of X12 payers go as one batch 270 per payer
(:mod:`app.eligibility.batch`), queued in the claiming transaction; their 271s come in by the poller.
The duty never waits for a payer: a hanging payer holds its own in-flight slots only, and the job loop goes on.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine

from app.db import eligibility_repo, mirror_repo, outbox_repo
from app.db.eligibility_repo import DueCheck
from app.domain.eligibility import CheckKey, EligibilityEndpoint, EligibilityRequest, EligibilityResult, unverified
from app.domain.payers import PayerDirectory
from app.domain.tenancy import DEFAULT_EHR
from app.eligibility.ahead import Cursor, plan_ahead
from app.eligibility.batch import BatchChannel, queue_batch
from app.eligibility.gather import Skip, request_for
from app.eligibility.metrics import EligibilityMetrics
from app.eligibility.runner import EligibilityRunner
from app.eligibility.triggers import Requested, local_date, still_wanted
from app.eligibility.writeback import response_resource, tasks
from app.errors import FatalError
from app.intake.parsed import ParsedNotes
from app.logging import get_logger

log = get_logger("claimbridge.eligibility")
#: How often a round looks for checks that outlived their payer's ``claim_wait_seconds``.
EXPIRY_EVERY = timedelta(seconds=5)
#: Re-evaluate these encounters' claims (of the EHR named last) in the caller's transaction; returns short results.
Reevaluate = Callable[[Connection, list[str], datetime, str], list[str]]


@dataclass
class EligibilityDuty:
    engine: Engine
    runner: EligibilityRunner
    payers: PayerDirectory
    clock: Callable[[], datetime]
    reevaluate: Reevaluate
    writeback: str = "writeback"
    #: The write-back destination of an EHR's answers (``ehr:<name>`` with per-EHR write-back); None: ``writeback``.
    writeback_for: Callable[[str], str] | None = None
    metrics: EligibilityMetrics | None = None
    lease_seconds: float = 300.0
    max_in_flight: int = 256
    #: True while jobs (or pending inbox rows: jobs to be) wait: claims of stored answers are then
    #: re-evaluated a few per round, so notifications keep their throughput; otherwise all of them.
    busy: Callable[[], bool] | None = None
    reevaluate_while_busy: int = 2
    #: Claims re-evaluated per round with the queue empty (short transactions: answers keep landing).
    reevaluate_per_round: int = 16
    #: The folder clearinghouse's batch 270 channel (day-before checks); None: everything real time.
    batch: BatchChannel | None = None
    #: Plan and send the checks of waiting jobs from their notifications (False: only once their jobs ran).
    ahead: bool = True
    #: Waiting notifications looked at per round ahead of their jobs (bounded again by the room in flight).
    ahead_notifications: int = 256
    #: The check identities known stored, shared with the jobs' planning (``Runtime.requested``).
    requested: Requested = field(default_factory=Requested)
    #: Where the ahead rounds leave the notifications they parsed, for their jobs' prefetch (None: nowhere).
    parsed: ParsedNotes | None = None
    _ahead: Cursor = field(default_factory=Cursor)  # the inbox rows looked at
    _inflight: dict[int, tuple[DueCheck, EligibilityRequest, concurrent.futures.Future[EligibilityResult]]] = field(
        default_factory=dict
    )
    _next_expiry: datetime | None = None

    def destination(self, ehr: str) -> str:
        return self.writeback_for(ehr) if self.writeback_for is not None else self.writeback

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def __post_init__(self) -> None:
        #: Without any payer verifying in real time the duty costs nothing (no query per round).
        self.enabled = any(p.eligibility for p in self.payers.profiles.values())

    def run_if_due(self) -> int:
        if not self.enabled and not self._inflight:
            return 0
        done = self.send_ahead() + self.collect() + self.dispatch()
        now = self.clock()
        if self._next_expiry is None or now >= self._next_expiry:  # a query at most every few seconds
            self._next_expiry = now + EXPIRY_EVERY
            done += self.expire_waits()
        return done + self.reevaluate_pending(limit=self.reevaluate_per_round, while_busy=self.reevaluate_while_busy)

    def after_jobs(self) -> int:
        """Right after a batch of jobs committed: store the answers in hand, send the checks just requested."""
        if not self.enabled and not self._inflight:
            return 0
        return self.collect() + self.dispatch()

    def send_ahead(self) -> int:
        """The checks of the notifications stored since the last look, sent before their jobs run."""
        room = min(self.max_in_flight - len(self._inflight), self.ahead_notifications)
        if not self.ahead or not self.enabled or room <= 0:
            return 0
        now = self.clock()
        with self.engine.begin() as conn:
            planned = plan_ahead(conn, after=self._ahead.after, limit=room, payers=self.payers, now=now,
                                 lease=self.lease_seconds, also=self._ahead.gaps, requested=self.requested)  # fmt: skip
        self._ahead.advance(planned.seen, now=now)
        self.requested.add(planned.requested)  # committed: their jobs' planning need not ask again
        if self.parsed is not None:  # their jobs' prefetch need not read and parse them again
            for inbox, note in planned.notes:
                self.parsed.put(inbox, note)
        for check, request, endpoint in planned.ready:
            self._inflight[check.id] = (check, request, self.runner.submit(request, endpoint))
        return len(planned.ready) + planned.skipped

    def dispatch(self) -> int:
        room = self.max_in_flight - len(self._inflight)
        if room <= 0:
            return 0
        now = self.clock()
        ready: list[tuple[DueCheck, EligibilityRequest, object]] = []
        batches: dict[str, list[tuple[DueCheck, EligibilityRequest, EligibilityEndpoint]]] = {}
        with self.engine.begin() as conn:
            due = [c for c in eligibility_repo.claim_due(conn, now=now, lease=self.lease_seconds, limit=room)
                   if c.id not in self._inflight]  # fmt: skip
            for check in due:
                reason = still_wanted(conn, appointment=check.appointment, service_date=check.service_date,
                                      ehr=check.ehr)  # fmt: skip
                got = Skip(reason) if reason else request_for(
                    conn, coverage_key=check.coverage, service_date=check.service_date, payers=self.payers,
                    encounter_key=check.encounter, trace=f"cb-elig-{check.id}", ehr=check.ehr,
                )  # fmt: skip
                if isinstance(got, Skip):
                    eligibility_repo.skip(conn, check.id, reason=got.reason, now=now)
                elif self.batch is not None and self.batch.takes(check.trigger, got[1]):
                    batches.setdefault(check.payer_id, []).append((check, *got))
                else:
                    ready.append((check, got[0], got[1]))
            for payer, checks in sorted(batches.items()):  # one batch 270 per payer, through the outbox
                control = queue_batch(conn, checks, channel=self.batch, now=now)  # type: ignore[arg-type]
                log.info("eligibility.batched", payer=payer, checks=len(checks), interchange=control)
        for check, request, endpoint in ready:
            self._inflight[check.id] = (check, request, self.runner.submit(request, endpoint))  # type: ignore[arg-type]
        return len(due)

    def expire_waits(self) -> int:
        """An interim ``unverified`` result for each check still unanswered past its payer's claim wait."""
        waits = {pid: p.eligibility.claim_wait_seconds for pid, p in self.payers.profiles.items()
                 if p.eligibility is not None and p.eligibility.claim_wait_seconds > 0}  # fmt: skip
        if not waits:
            return 0
        now = self.clock()
        expired = 0
        with self.engine.begin() as conn:
            for check in eligibility_repo.overdue(conn, due_before=now - timedelta(seconds=min(waits.values()))):
                wait = waits.get(check.payer_id)
                if wait is None or check.due_at is None or check.due_at > now - timedelta(seconds=wait):
                    continue
                reason = f"no answer from the payer within {wait:g} s; the claim was released unverified"
                result = EligibilityResult(
                    status="unverified", coverage=check.coverage, patient=check.patient, payer_id=check.payer_id,
                    service_date=check.service_date.isoformat(), checked_at=now.isoformat(), source="none",
                    reason=reason,
                )  # fmt: skip
                eligibility_repo.mark_unverified(conn, check.id, result, now=now)
                expired += 1
        if expired:
            log.warning("eligibility.wait_expired", checks=expired)
        return expired

    def collect(self) -> int:
        """Store every finished verification and its write-back (one transaction for the lot)."""
        done = [cid for cid, (_, _, future) in self._inflight.items() if future.done()]
        if not done:
            return 0
        results = []
        for cid in done:
            check, request, future = self._inflight.pop(cid)
            try:
                results.append((check, future.result()))
            except Exception as exc:  # a bug in an adapter: record it, never lose the check
                results.append((check, unverified(request, reason=f"internal error: {type(exc).__name__}",
                                                  now=self.clock())))  # fmt: skip
        try:
            self.store(results)
        except Exception as exc:  # the database failed: the leases expire and the checks run again
            log.error("eligibility.store_failed", checks=len(results), error=f"{type(exc).__name__}: {exc}")
        return len(done)

    def store(self, results: list[tuple[DueCheck, EligibilityResult]]) -> None:
        """The results and their write-back; the claims follow in :meth:`reevaluate_pending`."""
        now = self.clock()
        with self.engine.begin() as conn:
            eligibility_repo.finish_all(conn, [(check.id, result) for check, result in results], now=now)
            for check, result in results:
                queue_writeback(conn, result, check_id=check.id, destination=self.destination(check.ehr), now=now)
        for check, result in results:
            if self.metrics is not None:
                self.metrics.results.labels(payer=result.payer_id, status=result.status).inc()
                if result.latency_seconds is not None:
                    self.metrics.latency.labels(payer=result.payer_id, source=result.source).observe(
                        result.latency_seconds
                    )
            log.info("eligibility.done", check=check.id, trigger=check.trigger, status=result.status)

    def reevaluate_pending(self, *, limit: int, while_busy: int | None = None) -> int:
        """Re-evaluate the claims of stored results not yet applied (each encounter once), in one
        transaction; only ``while_busy`` of them when jobs are waiting."""
        now = self.clock()
        with self.engine.begin() as conn:
            pending = eligibility_repo.pending_reevaluation(conn, limit=limit)
            if pending and while_busy is not None and self.busy is not None and self.busy():
                pending = pending[:while_busy]
            if not pending:
                return 0
            by_ehr: dict[str, list[str]] = {}
            for _, coverage, encounter, ehr in pending:
                found = [encounter] if encounter else mirror_repo.encounters_for(conn, coverage, ehr=ehr)
                by_ehr.setdefault(ehr, []).extend(found)
            outcome: list[str] = []
            for ehr, encounters in sorted(by_ehr.items()):
                outcome += self.reevaluate(conn, list(dict.fromkeys(encounters)), now, ehr)
            eligibility_repo.mark_reevaluated(conn, [cid for cid, _, _, _ in pending], now=now)
        log.info("eligibility.reevaluated", checks=len(pending), claims=len(outcome))
        return len(pending)

    def wait(self, timeout: float) -> int:
        """Wait (bounded) for what is in flight, collect it and apply it (commands, tests, benchmarks)."""
        futures = [future for _, _, future in self._inflight.values()]
        if futures:
            concurrent.futures.wait(futures, timeout=timeout)
        got = self.collect()
        while self.reevaluate_pending(limit=self.max_in_flight):
            pass
        return got

    def drain(self, *, timeout: float = 60.0) -> int:
        """Dispatch and collect until nothing is due or in flight (bounded by ``timeout`` per wait)."""
        total = 0
        while True:
            sent = self.dispatch()
            got = self.wait(timeout) if self._inflight else 0
            total += got
            if sent == 0 and got == 0:
                return total


class NothingToVerify(FatalError, LookupError):
    """A manual check that cannot be made (unknown coverage, a payer without an endpoint)."""


def check_now(
    duty: EligibilityDuty, *, coverage: str, service_date: date, ehr: str = DEFAULT_EHR
) -> tuple[int, EligibilityResult]:
    """One verification of ``ehr``'s coverage now, outside the queue (``claimbridge eligibility check``),
    stored as ``manual``."""
    with duty.engine.begin() as conn:
        encounter = _encounter_on(conn, coverage, service_date, ehr)
        got = request_for(conn, coverage_key=coverage, service_date=service_date, payers=duty.payers,
                          encounter_key=encounter, trace=f"cb-elig-manual-{service_date.isoformat()}",
                          ehr=ehr)  # fmt: skip
    if isinstance(got, Skip):
        raise NothingToVerify(f"cannot verify {coverage}: {got.reason}")
    request, endpoint = got
    result = duty.runner.run(request, endpoint)
    now = duty.clock()
    key = CheckKey(coverage, service_date, "manual", request.patient, request.payer_id, now, encounter=encounter,
                   ehr=ehr)  # fmt: skip
    with duty.engine.begin() as conn:
        check_id = eligibility_repo.record(conn, key, result, now=now)
        queue_writeback(conn, result, check_id=check_id, destination=duty.destination(ehr), now=now)
        encounters = [encounter] if encounter else mirror_repo.encounters_for(conn, coverage, ehr=ehr)
        duty.reevaluate(conn, encounters, now, ehr)
        eligibility_repo.mark_reevaluated(conn, [check_id], now=now)
    return check_id, result


def _encounter_on(conn: Connection, coverage: str, day: date, ehr: str) -> str | None:
    """The patient's encounter on ``day`` (for the provider of the inquiry), if there is one."""
    for key in mirror_repo.encounters_for(conn, coverage, ehr=ehr):
        enc = mirror_repo.get(conn, key, ehr=ehr) or {}
        if local_date((enc.get("period") or {}).get("start")) == day:
            return key
    return None


def queue_writeback(
    conn: Connection, result: EligibilityResult, *, check_id: int, destination: str, now: datetime
) -> int:
    """Outbox rows for the response and the front-desk Tasks; returns how many."""
    rows = 0
    resource = response_resource(result, check_id=check_id)
    if resource is not None:
        outbox_repo.enqueue(conn, destination=destination, kind="eligibility-response", key=f"eligibility/{check_id}",
                            payload=resource, now=now)  # fmt: skip
        rows += 1
    for task in tasks(result, check_id=check_id):
        outbox_repo.enqueue(conn, destination=destination, kind="task", key=task["identifier"][0]["value"],
                            payload=task, now=now)  # fmt: skip
        rows += 1
    return rows
