"""Throttling of wrong credentials per client address, shared by every API process.

A client address that presented ``security.throttle_failures`` wrong credentials (admin tokens,
subscription secrets, counted together in scope ``api``) within ``security.throttle_window_seconds``
gets 429 with ``Retry-After`` until its window ends, even with a right credential: guessing costs
the attacker the window, not a request. A missing credential is not counted (it guesses nothing).
The counters are in the database (:class:`app.throttle.SharedThrottle`), at most
``security.throttle_max_clients`` addresses.

On the success path the shared counters are read at most once per ``security.throttle_cache_seconds``
per address (:meth:`SharedThrottle.peek` answers from memory in between), and requests that find the
memory stale at the same moment share one read (:func:`check_throttle_async`): without that, every
request in flight when the entry expired read the database on a thread of its own.

The address is the TCP peer (``request.client.host``): behind a reverse proxy all callers share the
proxy's address, so the proxy should throttle too (README, security section).
"""

from __future__ import annotations

import asyncio

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
    """:func:`check_throttle` from the event loop: from memory when it can, else on a worker thread
    (one read per address at a time: concurrent requests from one address await the same read)."""
    throttle: SharedThrottle = request.app.state.credential_throttle
    address = client_address(request)
    known, wait = throttle.peek(address)
    if not known:
        wait = await _shared_read(request.app.state.throttle_reads, throttle, address)
    _refuse(wait)


async def _shared_read(
    reads: dict[str, asyncio.Future[float | None]], throttle: SharedThrottle, address: str
) -> float | None:
    loop = asyncio.get_running_loop()
    pending = reads.get(address)
    if pending is None or pending.get_loop() is not loop:
        pending = loop.create_task(to_thread.run_sync(throttle.retry_after, address))
        reads[address] = pending

        def done(finished: asyncio.Future[float | None]) -> None:
            if reads.get(address) is finished:
                del reads[address]
            if not finished.cancelled():
                finished.exception()  # retrieved here too: every waiter may have gone

        pending.add_done_callback(done)
    return await asyncio.shield(pending)  # one waiter cancelled does not cancel the others' read


def record_failure(request: Request) -> None:
    throttle: SharedThrottle = request.app.state.credential_throttle
    throttle.failed(client_address(request))
