"""The eligibility port on its own event loop thread: submit from sync code, never block the worker.

:meth:`EligibilityRunner.submit` schedules one verification and returns a
:class:`concurrent.futures.Future` at once; the duty collects finished ones on its next round. A
semaphore per payer (``eligibility.concurrency``) bounds what one payer gets at a time, so a payer
that hangs holds only its own slots, each for at most its bounded timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import Any

from app.domain.eligibility import EligibilityEndpoint, EligibilityRequest, EligibilityResult
from app.ehr.gateway import LoopThread
from app.eligibility.port import EligibilityPort


class EligibilityRunner:
    def __init__(self, port: EligibilityPort) -> None:
        self.port = port
        self._loop: LoopThread | None = None
        self._slots: dict[str, asyncio.Semaphore] = {}

    def _thread(self) -> LoopThread:
        if self._loop is None:
            self._loop = LoopThread(name="claimbridge-eligibility")
        return self._loop

    async def _verify(self, request: EligibilityRequest, endpoint: EligibilityEndpoint) -> EligibilityResult:
        slots = self._slots.setdefault(request.payer_id, asyncio.Semaphore(endpoint.concurrency))
        async with slots:
            return await self.port.verify(request, endpoint)

    def submit(
        self, request: EligibilityRequest, endpoint: EligibilityEndpoint
    ) -> concurrent.futures.Future[EligibilityResult]:
        return asyncio.run_coroutine_threadsafe(self._verify(request, endpoint), self._thread().loop)

    def run(self, request: EligibilityRequest, endpoint: EligibilityEndpoint) -> EligibilityResult:
        """One verification, waited for (the CLI); bounded by the port's own timeouts and retries."""
        return self.submit(request, endpoint).result()

    def close(self) -> None:
        if self._loop is None:
            return
        closing: Any = asyncio.run_coroutine_threadsafe(self.port.aclose(), self._loop.loop)
        with contextlib.suppress(Exception):  # closing clients on the way out; nothing to do about it
            closing.result(timeout=5)
        self._loop.stop()
        self._loop = None
