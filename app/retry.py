"""The one retry policy and circuit breaker, for jobs, outbox deliveries and inline HTTP retries.

Backoff is exponential with **full jitter**: after ``n`` failed attempts the wait is uniform in
``[0, min(cap, base * 2 ** (n - 1))]``. When the other side said when to come back (Retry-After),
that wait is used instead, exactly. ``max_attempts`` counts every try, the first included; once it is
spent :meth:`RetryPolicy.delay` answers None (give up: dead letter or raise).

Inline callers (the FHIR client retrying inside one call) set ``max_retry_after``: a server asking
for a longer wait than that ends the call with the temporary error, and the queue's own backoff
(which honours the same Retry-After) takes over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_seconds: float = 0.5
    cap_seconds: float = 20.0
    max_retry_after: float | None = None

    def backoff(self, attempts: int, rand: Callable[[], float]) -> float:
        """The jittered wait after ``attempts`` failed attempts (full jitter)."""
        return rand() * min(self.cap_seconds, self.base_seconds * 2.0 ** max(attempts - 1, 0))

    def delay(self, *, attempts: int, rand: Callable[[], float], retry_after: float | None = None) -> float | None:
        """Seconds to wait after ``attempts`` failed attempts, or None to give up."""
        if attempts >= self.max_attempts:
            return None
        if retry_after is not None:
            if self.max_retry_after is not None and retry_after > self.max_retry_after:
                return None
            return retry_after
        return self.backoff(attempts, rand)

    def next_retry(
        self, *, attempts: int, now: datetime, rand: Callable[[], float], retry_after: float | None = None
    ) -> datetime | None:
        """When to try again (for queued work), or None once the budget is spent."""
        wait = self.delay(attempts=attempts, rand=rand, retry_after=retry_after)
        return None if wait is None else now + timedelta(seconds=wait)


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
