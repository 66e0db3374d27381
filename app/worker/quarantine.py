"""Poison inbound files: count each file's failed ingestions, quarantine it after N, release it later.

The poller (:class:`~app.worker.clearinghouse.ClearinghouseCycle`) hands every failed ingestion to
:meth:`InboundQuarantine.failed`. A temporary failure (the database is down or busy,
:func:`~app.errors.is_temporary`) counts for nothing: the file is simply tried at the next
poll. Any other failure is a bug the file triggers; it is counted in ``inbound_failure`` (per source,
file name and content hash, so restarts and other workers share the count), and at
``clearinghouse.quarantine_after_attempts`` the file is quarantined: the folder source moves it to
``<inbox>/quarantine/``, the HTTP source leaves it unacknowledged at the API and stops downloading it.
Files beside it go on being ingested.

After a fix, :func:`release` (``POST /api/x12/quarantine/{id}/release``, ``claimbridge x12
quarantine release ID``) puts the file back (the folder source moves it into the inbox) and the next
poll ingests it; should it fail again, it gets ``quarantine_after_attempts`` new attempts.

What is kept of an error is its class and a PHI-free message (:func:`app.logging.safe_error`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from app.adapters.registry import ResponseSource
from app.adapters.x12_folder import InboundItem
from app.db import audit_repo, ehr_repo, quarantine_repo
from app.db.engine import read_only
from app.db.quarantine_repo import Failure, FileKey
from app.errors import is_temporary
from app.logging import get_logger, safe_error
from app.metrics import QuarantineSnapshot

log = get_logger("claimbridge.quarantine")


class NoSuchFile(LookupError):
    """No failing inbound file is recorded under that id."""


class NotQuarantined(LookupError):
    """The file is not (or no longer) quarantined, or not where its source can put it back."""


@dataclass
class InboundQuarantine:
    engine: Engine
    limit: int  # clearinghouse.quarantine_after_attempts
    clock: Callable[[], datetime]

    def known(self, source: str) -> dict[tuple[str, str], Failure]:
        """This source's failing and quarantined files by (name, sha256)."""
        with read_only(self.engine) as conn:
            return quarantine_repo.tracked(conn, source)

    def failed(self, source: ResponseSource, item: InboundItem, key: FileKey, exc: Exception) -> Failure | None:
        """Count a failed ingestion (not a temporary one); quarantine the file at the limit."""
        error = safe_error(exc)
        if is_temporary(exc):
            log.warning("x12.ingest_failed", file=item.name, temporary=True, error=": ".join(error))
            return None
        with self.engine.begin() as conn:
            failure = quarantine_repo.record_failure(
                conn, key, handle=item.handle, error=error, now=self.clock(), limit=self.limit
            )
        log.error("x12.ingest_failed", file=item.name, attempts=failure.attempts, error=": ".join(error))
        if failure.status == "quarantined":
            self.set_aside(source, item, failure)
            log.error("x12.quarantined", file=item.name, source=key.source, attempts=failure.attempts, id=failure.id)
        return failure

    def set_aside(self, source: ResponseSource, item: InboundItem, failure: Failure) -> None:
        """Move a quarantined file out of the source's way (again, if a crash left it in the inbox)."""
        handle = source.quarantine(item)
        if handle != failure.handle:
            with self.engine.begin() as conn:
                quarantine_repo.set_handle(conn, failure.id, handle)

    def succeeded(self, key: FileKey) -> None:
        """Ingested after all: its earlier failures are forgotten."""
        with self.engine.begin() as conn:
            quarantine_repo.clear_failing(conn, key)


def release(
    engine: Engine, source: ResponseSource, failure_id: int, *, by: str, now: datetime, actor_kind: str = "api"
) -> dict[str, Any]:
    """Offer a quarantined file again (``by`` is recorded, and audited as a ``replay``); raises
    :class:`NoSuchFile`, :class:`NotQuarantined`."""
    with read_only(engine) as conn:
        row = quarantine_repo.get(conn, failure_id)
    if row is None:
        raise NoSuchFile(f"no inbound file {failure_id} is recorded as failing")
    if row["status"] != "quarantined":
        raise NotQuarantined(f"inbound file {failure_id} is {row['status']}, not quarantined")
    if row["source"] != source.name:
        raise NotQuarantined(f"inbound file {failure_id} came from the {row['source']} source; {source.name} is set")
    try:
        source.release(row["handle"])  # first: a file back in the inbox but still marked is set aside again
    except FileNotFoundError as exc:
        raise NotQuarantined(str(exc)) from exc
    with engine.begin() as conn:
        if not quarantine_repo.release(conn, failure_id, by=by, now=now):
            raise NotQuarantined(f"inbound file {failure_id} was released meanwhile")
        released = quarantine_repo.get(conn, failure_id)
        audit_repo.record(
            conn, actor=by, actor_kind=actor_kind, action="replay", entity=f"x12-file/{failure_id}", now=now,
            detail={"source": row["source"]},
        )  # fmt: skip
    log.info("x12.released", id=failure_id, file=row["name"], source=row["source"], by=by)
    assert released is not None
    return released


def quarantine_snapshot(engine: Engine) -> QuarantineSnapshot:
    """Quarantined files per source and stopped recoveries, for ``/metrics``."""
    with read_only(engine) as conn:
        return QuarantineSnapshot(quarantine_repo.quarantined_counts(conn), ehr_repo.failed_gap_count(conn))
