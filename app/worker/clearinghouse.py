"""The worker's clearinghouse duties, each on its own period (like the subscription sweep).

- every ``clearinghouse.submit_interval_seconds`` (the first time one interval after the worker
  starts): :meth:`Submitter.submit` (the ready claims → one 837P, queued for delivery; the outbox
  delivers it with the destination's retry policy);
- every ``clearinghouse.poll_interval_seconds``: the response source (inbox folder or API) is read
  and each file ingested (:class:`~app.worker.ingest.Ingester`); a file is acknowledged (moved to
  ``processed/`` or DELETEd at the API) only after its transaction committed, so a crash re-reads it
  and the content hash makes the second ingestion a no-op.

An interval of 0 turns a duty off in the worker (``claimbridge x12 submit|ingest`` still run it).
Failures are logged and retried at the next period; they never stop the job loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.adapters.registry import ResponseSource
from app.adapters.x12_folder import InboundItem
from app.db.quarantine_repo import FileKey
from app.logging import get_logger, safe_error
from app.settings import ClearinghouseSettings
from app.worker.ingest import Ingester
from app.worker.quarantine import InboundQuarantine
from app.worker.submit import Submitter

log = get_logger("claimbridge.clearinghouse")


def _due(last: datetime | None, now: datetime, interval: float) -> bool:
    return interval > 0 and (last is None or (now - last).total_seconds() >= interval)


@dataclass
class ClearinghouseCycle:
    submitter: Submitter
    ingester: Ingester
    source: ResponseSource
    settings: ClearinghouseSettings
    clock: Callable[[], datetime]
    last_submit: datetime | None = None
    last_poll: datetime | None = None
    quarantine: InboundQuarantine | None = None  # default: on the ingester's database

    def __post_init__(self) -> None:
        if self.quarantine is None:
            limit = self.settings.quarantine_after_attempts
            self.quarantine = InboundQuarantine(self.ingester.engine, limit, self.clock)

    def run_if_due(self) -> int:
        """Run whichever duty is due; returns claims submitted + files ingested."""
        now = self.clock()
        done = 0
        if self.last_submit is None:  # the first batch goes one interval after start (late encounters land)
            self.last_submit = now
        if _due(self.last_submit, now, self.settings.submit_interval_seconds):
            self.last_submit = now
            done += self._guarded("submit", lambda: len(self.submitter.submit().submitted))
        if _due(self.last_poll, now, self.settings.poll_interval_seconds):
            self.last_poll = now
            done += self._guarded("poll", self.poll)
        return done

    def poll(self) -> int:
        """Ingest every file the source offers; returns how many new files were stored."""
        assert self.quarantine is not None
        known = self.quarantine.known(self.source.name)
        stored = 0
        for item in self.source.pending({f.handle for f in known.values() if f.status == "quarantined"}):
            key = FileKey(self.source.name, item.name, hashlib.sha256(item.content).hexdigest())
            failure = known.get((key.name[:300], key.sha256))
            if failure is not None and failure.status == "quarantined":  # back in the inbox: a crash, a worker
                self.quarantine.set_aside(self.source, item, failure)
                continue
            stored += self._ingest(item, key, failing=failure is not None)
        return stored

    def _ingest(self, item: InboundItem, key: FileKey, *, failing: bool) -> int:
        assert self.quarantine is not None
        try:
            result = self.ingester.ingest(item.content, name=item.name, source=self.source.name)
        except Exception as exc:  # temporary (the database): next poll; a bug: counted, then quarantined
            self.quarantine.failed(self.source, item, key, exc)
            return 0
        self.source.finish(item)
        if failing:
            self.quarantine.succeeded(key)
        return 0 if result.duplicate else 1

    def _guarded(self, duty: str, run: Callable[[], int]) -> int:
        try:
            return run()
        except Exception as exc:  # a bad period must not stop the job loop
            log.error(f"x12.{duty}_failed", error=": ".join(safe_error(exc)))
            return 0
