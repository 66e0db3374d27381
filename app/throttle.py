"""Throttling of wrong credentials per key (a client address, an account name), in bounded memory.

A key that presented ``limit`` wrong credentials within ``window`` seconds must wait until its
window ends (:meth:`FailureThrottle.retry_after`), even with a right credential: guessing costs the
attacker the window, not a request. At most ``max_clients`` keys are tracked; the oldest is
forgotten first, so memory stays bounded under a spray of keys. Used by the API
(:mod:`app.api.throttle`: admin tokens, subscription secrets) and the console sign-in
(:mod:`app.web.console`). Per process: with several API processes each counts on its own.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


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

    def clear(self, address: str) -> None:
        """Forget ``address``'s failures (a right credential outside the penalty window)."""
        self._seen.pop(address, None)
