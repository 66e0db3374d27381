"""Group commit for notification intake: one writer thread, one transaction per batch.

Each request hands its parsed notification to the writer and awaits a future. The writer takes
everything queued (up to ``max_batch``), stores each notification exactly as a lone request would
(inbox row, jobs, subscription status; duplicates detected inside the batch too) in ONE transaction,
commits, then resolves the futures. A request is acknowledged only after the commit that holds its
notification, so "stored before the 2xx" holds; if the transaction fails, every request of the batch
gets the error (and a 503) and nothing of the batch is stored.

Under load many notifications share one commit (the expensive part with SQLite's fsync and
PostgreSQL's WAL flush); alone, a request waits for nothing but its own transaction.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from app.db import intake_repo
from app.intake.notification import Notification
from app.logging import get_logger

log = get_logger("claimbridge.intake")


@dataclass(frozen=True)
class Pending:
    subscription_id: str
    note: Notification
    body: bytes
    content_type: str | None


def store_one(conn: Connection, item: Pending, *, now: datetime) -> intake_repo.Stored:
    stored = intake_repo.Stored(None, 0, 0)
    note = item.note
    if note.carries_work or note.kind in ("ping", "delete"):
        stored = intake_repo.store_notification(
            conn,
            subscription_id=item.subscription_id, note=note, body=item.body,
            content_type=item.content_type, now=now,
        )  # fmt: skip
    intake_repo.record_status(conn, subscription_id=item.subscription_id, note=note, now=now)
    return stored


class IntakeWriter:
    def __init__(self, engine: Engine, clock: Callable[[], datetime], *, max_batch: int = 256) -> None:
        self.engine = engine
        self.clock = clock
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Pending, Future[intake_repo.Stored]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="claimbridge-intake-writer", daemon=True)
                self._thread.start()

    async def store(self, item: Pending) -> intake_repo.Stored:
        self._ensure_started()
        future: Future[intake_repo.Stored] = Future()
        self._queue.put((item, future))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            self._write(batch)

    def _write(self, batch: list[tuple[Pending, Future[intake_repo.Stored]]]) -> None:
        live = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
        try:
            now = self.clock()
            with self.engine.begin() as conn:
                results = [store_one(conn, item, now=now) for item, _ in live]
        except Exception as exc:  # the whole batch rolled back: every request learns it
            log.error("intake.batch_failed", size=len(live), error=f"{type(exc).__name__}: {exc}")
            for _, fut in live:
                fut.set_exception(exc)
            return
        for (_, fut), result in zip(live, results, strict=True):
            fut.set_result(result)
