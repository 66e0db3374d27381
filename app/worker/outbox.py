"""Outbox delivery: each row delivered on its own, with its destination's retry policy and a
circuit breaker per destination (a failing EHR does not hold back the clearinghouse).

Delivery is at-least-once; adapters are idempotent on the row key.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from app.adapters.base import Adapter, FatalDeliveryError, TemporaryDeliveryError
from app.db import outbox_repo
from app.logging import get_logger
from app.metrics import Metrics
from app.worker.policy import CircuitBreaker, RetryPolicy

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

    def run_once(self) -> int:
        now = self.clock()
        closed = frozenset(d for d, b in self.breakers.items() if not b.allows(now))
        with self.engine.begin() as conn:
            batch = outbox_repo.due(conn, now=now, limit=self.batch_size, skip_destinations=closed)
        for delivery in batch:
            self.deliver(delivery)
        return len(batch)

    def deliver(self, delivery: outbox_repo.Delivery) -> None:
        breaker = self.breakers.setdefault(delivery.destination, CircuitBreaker())
        now = self.clock()
        adapter = self.adapters.get(delivery.destination)
        try:
            if adapter is None:
                raise FatalDeliveryError(f"no adapter for destination {delivery.destination!r}")
            adapter.deliver(kind=delivery.kind, key=delivery.key, payload=delivery.payload)
        except (TemporaryDeliveryError, FatalDeliveryError) as exc:
            temporary = isinstance(exc, TemporaryDeliveryError)
            if temporary:
                breaker.record_failure(now)
            retry_at = (
                self.policy.next_retry(attempts=delivery.attempts + 1, now=now, rng=self.rng) if temporary else None
            )
            with self.engine.begin() as conn:
                outbox_repo.mark_failed(conn, delivery.id, error=str(exc), retry_at=retry_at)
            self.metrics.deliveries.labels(destination=delivery.destination, result="failed").inc()
            log.warning(
                "outbox.failed",
                delivery=delivery.id,
                destination=delivery.destination,
                error=str(exc),
                dead=retry_at is None,
            )
            return
        breaker.record_success()
        with self.engine.begin() as conn:
            outbox_repo.mark_delivered(conn, delivery.id, now=now)
        self.metrics.deliveries.labels(destination=delivery.destination, result="delivered").inc()
