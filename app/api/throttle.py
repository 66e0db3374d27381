"""Throttling of wrong credentials, per client address, in bounded memory.

A client address that presented ``limit`` wrong credentials (admin tokens, subscription secrets)
within ``window`` seconds gets 429 with ``Retry-After`` until its window ends, even with a right
credential: guessing costs the attacker the window, not a request. A missing credential is not
counted (it guesses nothing). At most ``max_clients`` addresses are tracked; the oldest is forgotten
first, so memory stays bounded under a spray of addresses.

The address is the TCP peer (``request.client.host``): behind a reverse proxy all callers share the
proxy's address, so the proxy should throttle too (README, security section).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from app.api.outcomes import OutcomeError


@dataclass
class FailureThrottle:
    limit: int
    window: float
    max_clients: int
    clock: Callable[[], float] = time.monotonic
    _seen: OrderedDict[str, tuple[float, int]] = field(default_factory=OrderedDict)

    def retry_after(self, address: str) -> float | None:
        """Seconds the address must wait, or None when it may try."""
        entry = self._seen.get(address)
        if entry is None:
            return None
        started, failures = entry
        left = started + self.window - self.clock()
        if left <= 0:
            del self._seen[address]
            return None
        return left if failures >= self.limit else None

    def failed(self, address: str) -> None:
        now = self.clock()
        started, failures = self._seen.pop(address, (now, 0))
        if started + self.window <= now:
            started, failures = now, 0
        self._seen[address] = (started, failures + 1)
        while len(self._seen) > self.max_clients:
            self._seen.popitem(last=False)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_throttle(request: Request) -> None:
    """Raise 429 when this client is in its penalty window."""
    throttle: FailureThrottle = request.app.state.credential_throttle
    wait = throttle.retry_after(client_address(request))
    if wait is not None:
        raise OutcomeError(429, "too many wrong credentials; retry later", headers={"Retry-After": str(int(wait) + 1)})


def record_failure(request: Request) -> None:
    throttle: FailureThrottle = request.app.state.credential_throttle
    throttle.failed(client_address(request))
