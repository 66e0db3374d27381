"""Retry timing and circuit breaking, shared by jobs and outbox deliveries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    cap_seconds: float

    def next_retry(self, *, attempts: int, now: datetime, rng: random.Random) -> datetime | None:
        """When to try again after ``attempts`` failed attempts; None once the budget is spent.

        Exponential backoff with "equal jitter": half the capped delay, plus a random half.
        """
        if attempts >= self.max_attempts:
            return None
        delay = min(self.cap_seconds, self.base_seconds * (2 ** (attempts - 1)))
        return now + timedelta(seconds=delay / 2 + rng.uniform(0, delay / 2))


@dataclass
class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; lets one trial through after ``cooldown``."""

    threshold: int = 5
    cooldown_seconds: float = 30.0
    failures: int = 0
    opened_at: datetime | None = field(default=None)

    def allows(self, now: datetime) -> bool:
        if self.opened_at is None:
            return True
        return (now - self.opened_at).total_seconds() >= self.cooldown_seconds

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def record_failure(self, now: datetime) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = now
