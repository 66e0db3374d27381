"""Outbox delivery: each row delivered on its own, with its destination's retry policy and a
circuit breaker per destination (a failing EHR does not hold back the clearinghouse).

Per-destination attempts, backoff and breaker thresholds come from ``outbox.destinations``
(:class:`~app.settings.OutboxSettings`); a destination not listed uses ``policy`` and the default
breaker. A temporary error's ``retry_after`` (the receiver's Retry-After) sets the next attempt
(:class:`app.retry.RetryPolicy`: exactly that wait, else the jittered backoff).

A round claims its rows (``available_at`` moved ``lease_seconds`` ahead in the claiming commit), so
two workers never deliver the same row at once; a worker killed mid-round leaves its rows due again
when the lease ends. Rows a round skips (an open breaker) are released at its end.

Delivery is at-least-once; adapters are idempotent on the row key. A round's successful deliveries
are marked in one commit at its end (a failure is recorded at once): a crash mid-round re-delivers
what that round had sent, as a crash between a delivery and its mark always could.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from app.adapters.base import Adapter, FatalDeliveryError, TemporaryDeliveryError
from app.db import outbox_repo
from app.errors import retry_after_of
from app.logging import get_logger
from app.metrics import Metrics
from app.retry import CircuitBreaker, RetryPolicy
from app.settings import OutboxSettings

log = get_logger("claimbridge.outbox")


@dataclass
class OutboxDispatcher:
    engine: Engine
    adapters: dict[str, Adapter]
    policy: RetryPolicy
    metrics: Metrics
    clock: Callable[[], datetime]
    batch_size: int = 50
    rng: random.Random = field(default_factory=random.Random)
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    settings: OutboxSettings | None = None  # per-destination policies; None: ``policy`` everywhere
    last_result: str = ""  # "delivered" | "failed" | "dead" (of the last delivery)
    #: How long a round's claim on its rows lasts: longer than a round can take (its rows' timeouts).
    lease_seconds: float = 600.0

    def policy_for(self, destination: str) -> RetryPolicy:
        if self.settings is None or destination not in self.settings.destinations:
            return self.policy
        p = self.settings.destinations[destination]
        return RetryPolicy(p.max_attempts, p.backoff_base_seconds, p.backoff_cap_seconds)

    def breaker_for(self, destination: str) -> CircuitBreaker:
        breaker = self.breakers.get(destination)
        if breaker is None:
            p = self.settings.policy_for(destination) if self.settings is not None else None
            breaker = CircuitBreaker(p.breaker_threshold, p.breaker_cooldown_seconds) if p else CircuitBreaker()
            self.breakers[destination] = breaker
        return breaker

    def run_if_due(self) -> int:
        """A worker duty: due every round."""
        return self.run_once()

    def run_once(self) -> int:
        """Deliver one batch of due rows; returns how many were attempted.

        Destinations with an open breaker are skipped, and the breaker is asked again before each
        row: once its cooldown is over it lets ONE trial through, and a failing trial re-opens it,
        so the rest of that destination's rows wait (an outage sees a trial per cooldown, not the
        whole batch).
        """
        now = self.clock()
        closed = frozenset(d for d, b in self.breakers.items() if not b.allows(now))
        lease = now + timedelta(seconds=self.lease_seconds)
        with self.engine.begin() as conn:
            batch = outbox_repo.due(conn, now=now, limit=self.batch_size, skip_destinations=closed, lease_until=lease)
        attempted = 0
        delivered: list[int] = []
        untried = [d.id for d in batch]
        try:
            for delivery in batch:
                if not self.breaker_for(delivery.destination).allows(self.clock()):
                    continue
                untried.remove(delivery.id)
                if self.deliver(delivery, mark=False):
                    delivered.append(delivery.id)
                attempted += 1
        finally:  # the batch's deliveries marked in one commit, not one each (at-least-once either way)
            if delivered or untried:
                with self.engine.begin() as conn:
                    outbox_repo.mark_delivered_many(conn, delivered, now=now)
                    outbox_repo.release(conn, untried, now=now)
        return attempted

    def deliver(self, delivery: outbox_repo.Delivery, *, mark: bool = True) -> bool:
        """Deliver one row; True when it was delivered (then marked, unless ``mark`` is False: the
        caller marks it); a failure is recorded here either way."""
        breaker = self.breaker_for(delivery.destination)
        now = self.clock()
        adapter = self.adapters.get(delivery.destination)
        try:
            if adapter is None:
                raise FatalDeliveryError(f"no adapter for destination {delivery.destination!r}")
            adapter.deliver(kind=delivery.kind, key=delivery.key, payload=delivery.payload)
        except (TemporaryDeliveryError, FatalDeliveryError) as exc:
            temporary = isinstance(exc, TemporaryDeliveryError)
            held = retry_after_of(exc)
            if temporary and held is not None and not _attempted(exc):
                # nothing was sent (the destination's Retry-After holds): deferred, not a failure
                with self.engine.begin() as conn:
                    outbox_repo.mark_failed(
                        conn, delivery.id, error=str(exc), retry_at=now + timedelta(seconds=held), attempted=False
                    )
                self.last_result = "held"
                return False
            if temporary:
                breaker.record_failure(now)
            retry_at = self.retry_at(delivery, exc, now) if temporary else None
            with self.engine.begin() as conn:
                outbox_repo.mark_failed(conn, delivery.id, error=str(exc), retry_at=retry_at)
            self.metrics.deliveries.labels(destination=delivery.destination, result="failed").inc()
            self.last_result = "failed" if retry_at is not None else "dead"
            log.warning(
                "outbox.failed",
                delivery=delivery.id,
                destination=delivery.destination,
                error=str(exc),
                dead=retry_at is None,
            )
            return False
        breaker.record_success()
        if mark:
            with self.engine.begin() as conn:
                outbox_repo.mark_delivered(conn, delivery.id, now=now)
        self.metrics.deliveries.labels(destination=delivery.destination, result="delivered").inc()
        self.last_result = "delivered"
        return True

    def retry_at(self, delivery: outbox_repo.Delivery, exc: Exception, now: datetime) -> datetime | None:
        policy = self.policy_for(delivery.destination)
        return policy.next_retry(
            attempts=delivery.attempts + 1, now=now, rand=self.rng.random, retry_after=retry_after_of(exc)
        )


def _attempted(exc: BaseException) -> bool:
    """False when the error (or the error it wraps) says nothing was sent (``TemporaryError.attempted``)."""
    return bool(getattr(exc, "attempted", True) and getattr(exc.__cause__, "attempted", True))
