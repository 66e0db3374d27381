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

from fastapi import Request

from app.api.outcomes import OutcomeError
from app.throttle import FailureThrottle

__all__ = ["FailureThrottle", "check_throttle", "client_address", "record_failure"]


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
