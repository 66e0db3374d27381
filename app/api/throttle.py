"""Throttling of wrong credentials per client address, shared by every API process.

A client address that presented ``security.throttle_failures`` wrong credentials (admin tokens,
subscription secrets, counted together in scope ``api``) within ``security.throttle_window_seconds``
gets 429 with ``Retry-After`` until its window ends, even with a right credential: guessing costs
the attacker the window, not a request. A missing credential is not counted (it guesses nothing).
The counters are in the database (:class:`app.throttle.SharedThrottle`), at most
``security.throttle_max_clients`` addresses.

The address is the TCP peer (``request.client.host``): behind a reverse proxy all callers share the
proxy's address, so the proxy should throttle too (README, security section).
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import Request

from app.api.outcomes import OutcomeError
from app.services import Services
from app.throttle import SharedThrottle

__all__ = ["check_throttle", "check_throttle_async", "client_address", "credential_throttle", "record_failure"]

SCOPE = "api"


def credential_throttle(services: Services) -> SharedThrottle:
    """The API's throttle (``app.state.credential_throttle``), on the services' database and clock."""
    security = services.settings.security
    return SharedThrottle.configured(
        services.engine,
        security,
        services.clock,
        scope=SCOPE,
        limit=security.throttle_failures,
        window=security.throttle_window_seconds,
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refuse(wait: float | None) -> None:
    if wait is not None:
        raise OutcomeError(429, "too many wrong credentials; retry later", headers={"Retry-After": str(int(wait) + 1)})


def check_throttle(request: Request) -> None:
    """Raise 429 when this client is in its penalty window (may read the database: call off the loop)."""
    throttle: SharedThrottle = request.app.state.credential_throttle
    _refuse(throttle.retry_after(client_address(request)))


async def check_throttle_async(request: Request) -> None:
    """:func:`check_throttle` from the event loop: from memory when it can, else on a worker thread."""
    throttle: SharedThrottle = request.app.state.credential_throttle
    known, wait = throttle.peek(client_address(request))
    if not known:
        wait = await to_thread.run_sync(throttle.retry_after, client_address(request))
    _refuse(wait)


def record_failure(request: Request) -> None:
    throttle: SharedThrottle = request.app.state.credential_throttle
    throttle.failed(client_address(request))
