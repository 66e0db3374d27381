"""Group commit for notification intake: one transaction per batch of concurrent requests.

Each request appends its parsed notification to the pending list and awaits an asyncio future. One
flusher task per event loop takes everything pending (up to ``max_batch``), stores each notification
exactly as a lone request would (its one inbox row and the subscription status; duplicates
detected inside the batch too; the worker expands the rows into jobs) in ONE transaction on a
worker thread, then resolves the futures on the loop. Requests that arrive during a write wait
for the next batch. A request is acknowledged only after the commit that holds its notification,
so "stored before the 2xx" holds. If the batch's transaction fails (nothing of it is stored), each
member is written again in a transaction of its own: only the member that fails alone gets the
error (a 503, or a 400 for a value the database refuses); the others are stored and acknowledged
as if nothing had happened. Values that would fail a batch are
refused before it (:mod:`app.intake.limits`); this is the second line of defence.

Under load many notifications share one commit (the expensive part with SQLite's fsync and
PostgreSQL's WAL flush); alone, a request waits for nothing but its own transaction.

Where the batch is written (ADR 0005): on PostgreSQL on a worker thread (the commit waits on the
network and the server's WAL flush, which must not stall the event loop); on SQLite inline, on the
event loop: SQLite is a library call of ~150 us per notification, and a second Python thread doing
it cost more than the SQL itself in GIL hand-offs (measured: ~680 vs ~410 us of CPU per request).
Tried 2026-12-03 and not kept: the statements inline and only the COMMIT (the fsync of
``synchronous=FULL``) on a worker thread, so the loop could read the next batch meanwhile. In-process
CPU was unchanged, but end to end (``bench/intake.py``, same minutes, load 0.2-0.4) it gave 840/s
and p99 260 ms at 500/s against 1,734/s and 13 ms inline: the thread that returns from the fsync
waits for the GIL behind the busy loop (the 5 ms switch interval) while every member of the batch
waits for it. Tried 2026-12-08 and not kept (commit 7bae3b9, reverted): the batch committed inline with
``synchronous=NORMAL`` and the WAL fsynced by a thread before the answers (so the next batch can
commit while the fsync runs; a 2xx still means on disk): +10-15 us of CPU per request in-process (GIL
hand-offs) and end to end indistinguishable (median 0.71x the floor either way, 5 alternated pairs
at load 6-8), since with every client in the batch there is nothing to overlap.
No coroutine holds a SQLite transaction across an ``await`` (the worker runs its transactions on
its own thread), so the loop can wait for the write lock at most one worker transaction long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from app.db import intake_repo
from app.db.errors import describe_error
from app.domain.tenancy import DEFAULT_EHR
from app.intake.notification import Notification
from app.logging import get_logger

log = get_logger("claimbridge.intake")


@dataclass(frozen=True)
class Pending:
    subscription_id: str
    note: Notification
    body: bytes
    content_type: str | None
    ehr: str = DEFAULT_EHR  # the sender subscription's EHR: its data are scoped to it


class IntakeWriter:
    def __init__(self, engine: Engine, clock: Callable[[], datetime], *, max_batch: int = 256) -> None:
        self.engine = engine
        self.clock = clock
        self.max_batch = max_batch
        self.inline = engine.dialect.name == "sqlite"
        self._pending: list[tuple[Pending, asyncio.Future[intake_repo.Stored]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def store(self, item: Pending) -> intake_repo.Stored:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[intake_repo.Stored] = loop.create_future()
        self._pending.append((item, future))
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush())
        return await future

    async def drain(self) -> None:
        """Wait until everything handed in so far is stored (or has failed)."""
        flusher = self._flusher
        if flusher is not None and not flusher.done() and flusher.get_loop() is asyncio.get_running_loop():
            await asyncio.shield(flusher)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0)  # let requests that are already running hand theirs in: bigger batches
            mine = [(i, f) for i, f in self._pending if f.get_loop() is loop]
            if not mine:
                return
            batch = mine[: self.max_batch]
            taken = {id(f) for _, f in batch}
            self._pending = [(i, f) for i, f in self._pending if id(f) not in taken]
            live = [(item, fut) for item, fut in batch if not fut.cancelled()]
            try:
                results = await self._run([item for item, _ in live])
            except Exception as exc:  # the whole batch rolled back: isolate the member that failed it
                log.warning("intake.batch_failed", size=len(live), error=describe_error(exc))
                await self._one_by_one(live, exc)
                continue
            for (_, fut), result in zip(live, results, strict=True):
                if not fut.done():
                    fut.set_result(result)

    async def _run(self, items: list[Pending]) -> list[intake_repo.Stored]:
        return self._write(items) if self.inline else await asyncio.to_thread(self._write, items)

    async def _one_by_one(
        self, live: list[tuple[Pending, asyncio.Future[intake_repo.Stored]]], error: Exception
    ) -> None:
        """After a failed batch: each member in its own transaction, so only the failing one sees its error."""
        if len(live) == 1:
            if not live[0][1].done():
                live[0][1].set_exception(error)
            return
        for item, fut in live:
            try:
                (result,) = await self._run([item])
            except Exception as exc:
                log.error("intake.store_failed", subscription=item.subscription_id, error=describe_error(exc))
                if not fut.done():
                    fut.set_exception(exc)
                continue
            if not fut.done():
                fut.set_result(result)

    def _write(self, items: list[Pending]) -> list[intake_repo.Stored]:
        now = self.clock()
        with self.engine.begin() as conn:
            rows = intake_repo.IntakeBatch(conn, now)
            results = [rows.store(i.subscription_id, i.note, i.body, i.content_type, ehr=i.ehr) for i in items]
            rows.finish()
        return results
