"""The subscription sweep: find missed events and silences, recover them, report health.

Run periodically by the worker (a duty of :class:`~app.worker.runner.Worker`, every
``ehr.sweep_interval_seconds``). Per subscription:

1. **silence / stopped** — no notification for ``heartbeat period x tolerance``, or the EHR said
   ``error``/``off``: a ``silence``/``stopped`` gap. With an EHR: ``$status`` (its status and event
   counter, kept as our high-water mark) and, when it reports ``error``/``off``, a PUT of the
   subscription back to ``requested`` (:func:`~app.fhir.subscriptions.reactivation`).
2. **missed event numbers** — every number up to the high-water mark must have a job; numbers still
   missing after ``gap_grace_seconds`` (they may be in flight) become an ``events`` gap.
3. **recovery** of an events gap — ``$events?eventsSinceNumber&eventsUntilNumber`` where the EHR
   supports it, stored through the SAME intake (:func:`~app.db.intake_repo.store_notification`,
   deduplicated on the event numbers, so a late original is a duplicate); numbers it did not return
   (or every number, without ``$events``) are stored as empty events, whose jobs do a notified pull
   (``_lastUpdated`` search since the last event before the gap).

A recovery that fails with a temporary error (EHR 5xx/429, unreachable, database busy) is tried at
the next sweep, however often. One that fails otherwise (the EHR's answer is unusable, or it trips
a bug) is counted per gap (``failures``); at ``ehr.recovery_max_attempts`` the gap is marked
``failed`` and no longer retried (``subscription.recovery_stopped`` is logged, the subscription lists
it under ``failed_gaps`` and ``claimbridge_subscription_recoveries_stopped`` counts it).

Health is ``degraded`` while a gap is open or failed and ``ok`` again once all are repaired. Each gap
found and repaired is counted (``claimbridge_subscription_gaps``, ``..._gaps_repaired``) and logged.
No HTTP call is made inside a database transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine

from app.db import ehr_repo, intake_repo, queue_repo
from app.db.ehr_repo import Gap, SweepState
from app.db.engine import read_only
from app.db.errors import describe_error
from app.ehr.fetch import instant
from app.ehr.gateway import EhrGateway
from app.ehr.metrics import gaps_repaired
from app.ehr.status import fetch_events, remote_status
from app.errors import is_temporary
from app.fhir.errors import FatalFhirError, FhirError
from app.fhir.notifications_build import NotificationEvent, SubscriptionState, build_notification_bundle
from app.intake.notification import InvalidNotification, parse_notification, parse_notification_bundle
from app.logging import get_logger, safe_error
from app.metrics import Metrics
from app.settings import EhrSettings

log = get_logger("claimbridge.gaps")
MAX_SPAN = 10_000  # event numbers examined per subscription and sweep
FHIR_JSON = "application/fhir+json"


SWEEP_LEASE_SECONDS = 300.0


@dataclass
class Sweeper:
    engine: Engine
    gateway: EhrGateway | None
    settings: EhrSettings
    metrics: Metrics
    clock: Callable[[], datetime]
    last_run: datetime | None = None

    def run_if_due(self) -> int:
        now = self.clock()
        if self.last_run is not None and (now - self.last_run).total_seconds() < self.settings.sweep_interval_seconds:
            return 0
        self.last_run = now
        return self.sweep(shared=True)

    def sweep(self, *, shared: bool = False) -> int:
        """One pass over every subscription; returns how many recovered jobs were stored.

        ``shared`` (the workers' schedule): sweep only the subscriptions whose sweep lease this worker
        takes, so with several workers each subscription is swept once per interval, not once per
        worker (no duplicate ``$status``/``$events`` calls, no duplicate gaps).
        """
        with read_only(self.engine) as conn:
            states = ehr_repo.sweep_states(conn)
        stored = 0
        for state in states:
            if shared and not self.take_lease(state.id):
                continue
            try:
                stored += self.sweep_one(state)
                if shared:
                    self.release_lease(state.id)
            except Exception as exc:  # one subscription's trouble must not stop the others
                log.error("subscription.sweep_failed", subscription=state.id, error=describe_error(exc))
        return stored

    def take_lease(self, subscription_id: str) -> bool:
        """Hold the subscription while sweeping it (a worker that dies mid-sweep holds it ``SWEEP_LEASE``)."""
        now = self.clock()
        until = now + timedelta(seconds=max(self.settings.sweep_interval_seconds, SWEEP_LEASE_SECONDS))
        with self.engine.begin() as conn:
            return ehr_repo.claim_sweep(conn, subscription_id, now=now, until=until)

    def release_lease(self, subscription_id: str) -> None:
        """Swept: the next sweep of it is due one interval from now, by whichever worker comes first."""
        until = self.clock() + timedelta(seconds=self.settings.sweep_interval_seconds)
        with self.engine.begin() as conn:
            ehr_repo.set_sweep_until(conn, subscription_id, until)

    def sweep_one(self, state: SweepState) -> int:
        now = self.clock()
        self.check_contact(state, now)
        self.find_missing(state.id, now)
        stored = self.repair_events(state, now) if self.can_reach(state) else 0
        self.update_health(state.id)
        return stored

    def can_reach(self, state: SweepState) -> bool:
        return self.gateway is not None and state.ehr is not None

    # -- 1 silence and stopped subscriptions ------------------------------------------------------

    def check_contact(self, state: SweepState, now: datetime) -> None:
        allowed = (state.heartbeat_period or 0) * self.settings.heartbeat_tolerance
        silent = bool(allowed) and (now - state.last_contact).total_seconds() > allowed
        stopped = state.status in ("error", "off")
        with self.engine.begin() as conn:
            gaps = {g.kind: g for g in ehr_repo.open_gaps(conn, state.id)}
            for kind, now_true in (("silence", silent), ("stopped", stopped)):
                if now_true and kind not in gaps:
                    self.found(conn, state.id, kind=kind, first=None, last=None, now=now)
                elif not now_true and kind in gaps:
                    self.repaired(conn, gaps[kind], method="contact-resumed", now=now)
        if (silent or stopped) and self.can_reach(state):
            self.ask_status(state, now)

    def ask_status(self, state: SweepState, now: datetime) -> None:
        assert self.gateway is not None and state.ehr is not None
        try:
            remote = self.gateway.call(state.ehr, lambda c: remote_status(c, state.fhir_id))
        except FhirError as exc:
            log.warning("subscription.status_failed", subscription=state.id, ehr=state.ehr, error=str(exc))
            return
        with self.engine.begin() as conn:
            ehr_repo.record_remote_status(
                conn, state.id, status=remote.status, events_since_start=remote.events_since_start, now=now
            )
            for gap in ehr_repo.open_gaps(conn, state.id):
                if gap.kind in ("silence", "stopped") and remote.status in ("active", "requested"):
                    method = "reactivated" if remote.reactivated else "status-checked"
                    self.repaired(conn, gap, method=method, now=now)
        log.info(
            "subscription.status_checked",
            subscription=state.id,
            remote_status=remote.status,
            events_since_start=remote.events_since_start,
            reactivated=remote.reactivated,
        )

    # -- 2 missed event numbers -------------------------------------------------------------------

    def find_missing(self, subscription_id: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            state = ehr_repo.sweep_states(conn, subscription_id=subscription_id)[0]
            high, checked = state.events_since_start, state.events_checked
            if checked is None:
                first = ehr_repo.first_number(conn, subscription_id)
                checked = first - 1 if first is not None else high
            upto = min(high, checked + MAX_SPAN)
            received = ehr_repo.received_numbers(conn, subscription_id, above=checked, upto=upto)
            missing = [n for n in range(checked + 1, upto + 1) if n not in received]
            if not missing:
                ehr_repo.set_checked(conn, subscription_id, checked=upto, gap_seen_at=None)
                return
            seen = state.gap_seen_at or now
            if (now - seen).total_seconds() < self.settings.gap_grace_seconds:
                ehr_repo.set_checked(conn, subscription_id, checked=missing[0] - 1, gap_seen_at=seen)
                return
            covered = {
                n
                for g in ehr_repo.open_gaps(conn, subscription_id, with_failed=True)  # a stopped one too
                if g.kind == "events"
                for n in range(g.first_number or 0, (g.last_number or -1) + 1)
            }
            for first, last in ranges([n for n in missing if n not in covered]):
                self.found(conn, subscription_id, kind="events", first=first, last=last, now=now)
            ehr_repo.set_checked(conn, subscription_id, checked=missing[0] - 1, gap_seen_at=None)

    # -- 3 recovery -------------------------------------------------------------------------------

    def repair_events(self, state: SweepState, now: datetime) -> int:
        with read_only(self.engine) as conn:
            gaps = [g for g in ehr_repo.open_gaps(conn, state.id) if g.kind == "events"]
        stored = 0
        for gap in gaps:
            try:
                stored += self.repair_gap(state, gap, now)
            except Exception as exc:  # counted: a gap that keeps failing stops
                self.repair_failed(state, gap, exc)
        return stored

    def repair_failed(self, state: SweepState, gap: Gap, exc: Exception) -> None:
        """Count the failure; a non-temporary one, ``ehr.recovery_max_attempts`` times, stops the recovery."""
        fatal = not is_temporary(exc)
        detail = ": ".join(safe_error(exc))
        limit = self.settings.recovery_max_attempts
        with self.engine.begin() as conn:
            status = ehr_repo.note_gap_attempt(conn, gap.id, detail=detail, fatal=fatal, limit=limit)
        log.warning("subscription.gap_repair_failed", subscription=state.id, gap=gap.id, fatal=fatal, error=detail)
        if status == "failed":
            log.error("subscription.recovery_stopped", subscription=state.id, gap=gap.id, error=detail)

    def repair_gap(self, state: SweepState, gap: Gap, now: datetime) -> int:
        assert self.gateway is not None and state.ehr is not None
        first, last = gap.first_number or 0, gap.last_number or 0
        stored, method = 0, "search"
        if self.gateway.record(state.ehr).supports_events:
            try:
                bundle = self.gateway.call(state.ehr, lambda c: fetch_events(c, state.fhir_id, first, last))
            except FatalFhirError as exc:  # refused or not supported after all: fall back to a search
                log.warning("subscription.events_refused", subscription=state.id, gap=gap.id, error=str(exc))
            else:
                stored += self.store_recovered(state.id, bundle, now=now)
                method = "events"
        with self.engine.begin() as conn:
            have = ehr_repo.received_numbers(conn, state.id, above=first - 1, upto=last)
            remaining = [n for n in range(first, last + 1) if n not in have]
            if remaining:
                since = self.time_before(conn, state.id, first, now)
                empty = empty_events_bundle(
                    state, remaining, timestamp=since, base_url=self.gateway.record(state.ehr).base_url
                )
                stored += self._store(conn, state.id, empty, now)
                method = "search" if method == "search" else "events+search"
            self.repaired(conn, gap, method=method, now=now)
        return stored

    def store_recovered(self, subscription_id: str, bundle: dict[str, Any], *, now: datetime) -> int:
        with self.engine.begin() as conn:
            return self._store(conn, subscription_id, bundle, now)

    def _store(self, conn: Any, subscription_id: str, bundle: dict[str, Any], now: datetime) -> int:
        body = orjson.dumps(bundle)
        try:
            note = parse_notification_bundle(bundle)
        except InvalidNotification as exc:
            raise FatalFhirError(f"$events answer is not a notification Bundle: {exc}") from exc
        stored = intake_repo.store_notification(
            conn, subscription_id=subscription_id, note=note, body=body, content_type=FHIR_JSON, now=now
        )
        return stored.jobs

    def time_before(self, conn: Any, subscription_id: str, number: int, now: datetime) -> str:
        """The EHR time of the last event before ``number`` (a pull starts there), else a lookback."""
        inbox = ehr_repo.inbox_of_event(conn, subscription_id, number - 1)
        if inbox is not None:
            try:
                note = parse_notification(queue_repo.inbox_body(conn, inbox))
            except InvalidNotification:
                note = None
            stamps = [e.timestamp for e in (note.events if note else ()) if e.number == number - 1 and e.timestamp]
            if stamps:
                return stamps[0]
        return instant(now - timedelta(seconds=self.settings.pull_lookback_seconds))

    # -- bookkeeping ------------------------------------------------------------------------------

    def found(
        self, conn: Any, subscription_id: str, *, kind: str, first: int | None, last: int | None, now: datetime
    ) -> None:
        gap_id = ehr_repo.record_gap(conn, subscription_id, kind=kind, first=first, last=last, now=now)
        ehr_repo.set_health(conn, subscription_id, "degraded")
        self.metrics.gaps.labels(subscription=subscription_id).inc()
        log.warning(
            "subscription.gap_found", subscription=subscription_id, gap=gap_id, kind=kind, first=first, last=last
        )

    def repaired(self, conn: Any, gap: Gap, *, method: str, now: datetime) -> None:
        ehr_repo.close_gap(conn, gap.id, now=now, detail=f"repaired by {method}")
        gaps_repaired(self.metrics).labels(subscription=gap.subscription_id, method=method).inc()
        log.info(
            "subscription.gap_repaired",
            subscription=gap.subscription_id,
            gap=gap.id,
            kind=gap.kind,
            first=gap.first_number,
            last=gap.last_number,
            method=method,
        )

    def update_health(self, subscription_id: str) -> None:
        with self.engine.begin() as conn:
            unrepaired = ehr_repo.open_gaps(conn, subscription_id) or ehr_repo.failed_gap_count(conn, subscription_id)
            ehr_repo.set_health(conn, subscription_id, "degraded" if unrepaired else "ok")


def empty_events_bundle(state: SweepState, numbers: list[int], *, timestamp: str, base_url: str) -> dict[str, Any]:
    """A ``query-event`` Bundle naming event numbers without content: each becomes a notified pull."""
    sub_state = SubscriptionState(base_url, state.id, None, "active", max(numbers[-1], state.events_since_start))
    placeholder = {"resourceType": "Subscription", "id": state.id}
    events = [NotificationEvent(number=n, timestamp=timestamp, focus=placeholder) for n in numbers]
    return build_notification_bundle(
        sub_state,
        notification_type="query-event",
        timestamp=timestamp,
        events=events,
        content="empty",
        bundle_id=f"recovered-{uuid.uuid4()}",
    )


def ranges(numbers: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs: [5, 6, 7, 9] -> [(5, 7), (9, 9)]."""
    out: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out
