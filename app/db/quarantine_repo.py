"""``inbound_failure`` statements: per-file failure counts of inbound X12 files, and their quarantine.

A row is keyed by (source, file name, SHA-256 of the bytes), so every worker polling the same source
counts into the same row and a restart loses nothing. Its ``status``:

- ``failing``      the ingester raised ``attempts`` times (not counting temporary database trouble);
- ``quarantined``  ``attempts`` reached the limit: the file left the inbox (or is no longer fetched);
- ``released``     an operator released it: it is offered again, and a new failure counts from 1.

A file ingested after some failures loses its ``failing`` row (a released row stays, as the record).
No file content is stored here; ``error`` is a message the caller made PHI-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, select, update

from app.db.models import InboundFailure
from app.db.sql import insert_ignore, iso

FAILURE = InboundFailure.__table__  # type: ignore[attr-defined]
STATUSES = ("failing", "quarantined", "released")


@dataclass(frozen=True)
class FileKey:
    source: str
    name: str
    sha256: str


@dataclass(frozen=True)
class Failure:
    id: int
    attempts: int
    status: str
    handle: str


def _where(key: FileKey) -> Any:
    return and_(FAILURE.c.source == key.source, FAILURE.c.name == key.name[:300], FAILURE.c.sha256 == key.sha256)


def record_failure(
    conn: Connection, key: FileKey, *, handle: str, error: tuple[str, str], now: datetime, limit: int
) -> Failure:
    """Count one failed ingestion; the row is ``quarantined`` once ``attempts`` reaches ``limit``."""
    error_class, message = error[0][:100], error[1][:500]
    fresh = {
        "source": key.source,
        "name": key.name[:300],
        "sha256": key.sha256,
        "handle": handle[:500],
        "status": "failing",
        "attempts": 0,
        "error_class": error_class,
        "error": message,
        "first_failed_at": now,
        "last_failed_at": now,
    }
    insert_ignore(conn, FAILURE, [fresh], ["source", "name", "sha256"], "id")
    # a released file that fails again starts a new count
    attempts = case((FAILURE.c.status == "released", 1), else_=FAILURE.c.attempts + 1)
    conn.execute(
        update(FAILURE)
        .where(_where(key), FAILURE.c.status != "quarantined")
        .values(
            attempts=attempts,
            status="failing",
            handle=handle[:500],
            error_class=error_class,
            error=message,
            last_failed_at=now,
        )
    )
    conn.execute(
        update(FAILURE)
        .where(_where(key), FAILURE.c.status == "failing", FAILURE.c.attempts >= limit)
        .values(status="quarantined", quarantined_at=now)
    )
    row = conn.execute(select(FAILURE).where(_where(key))).one()
    return Failure(row.id, row.attempts, row.status, row.handle)


def set_handle(conn: Connection, failure_id: int, handle: str) -> None:
    """Where the source keeps the quarantined file now (a moved file's new name)."""
    conn.execute(update(FAILURE).where(FAILURE.c.id == failure_id).values(handle=handle[:500]))


def tracked(conn: Connection, source: str) -> dict[tuple[str, str], Failure]:
    """The failing and quarantined files of ``source`` by (name, sha256)."""
    stmt = select(FAILURE).where(FAILURE.c.source == source, FAILURE.c.status.in_(("failing", "quarantined")))
    return {(r.name, r.sha256): Failure(r.id, r.attempts, r.status, r.handle) for r in conn.execute(stmt)}


def clear_failing(conn: Connection, key: FileKey) -> None:
    """The file was ingested: forget its earlier failures (a released row stays as the record)."""
    conn.execute(delete(FAILURE).where(_where(key), FAILURE.c.status == "failing"))


def get(conn: Connection, failure_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(FAILURE).where(FAILURE.c.id == failure_id)).first()
    return _view(row) if row is not None else None


def list_failures(conn: Connection, *, status: str | None = "quarantined", limit: int = 500) -> list[dict[str, Any]]:
    stmt = select(FAILURE).order_by(FAILURE.c.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(FAILURE.c.status == status)
    return [_view(r) for r in conn.execute(stmt)]


def release(conn: Connection, failure_id: int, *, by: str, now: datetime) -> bool:
    """Mark a quarantined file released; False when it is not (or no longer) quarantined."""
    done = conn.execute(
        update(FAILURE)
        .where(FAILURE.c.id == failure_id, FAILURE.c.status == "quarantined")
        .values(status="released", released_at=now, released_by=by[:100])
    )
    return bool(done.rowcount)


def quarantined_counts(conn: Connection) -> dict[str, int]:
    """Quarantined files per source (the ``claimbridge_x12_quarantined_files`` gauge)."""
    stmt = select(FAILURE.c.source, func.count()).where(FAILURE.c.status == "quarantined").group_by(FAILURE.c.source)
    return {str(source): int(n) for source, n in conn.execute(stmt)}


def _view(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "source": r.source,
        "name": r.name,
        "sha256": r.sha256,
        "handle": r.handle,
        "status": r.status,
        "attempts": r.attempts,
        "error_class": r.error_class,
        "error": r.error,
        "first_failed_at": iso(r.first_failed_at),
        "last_failed_at": iso(r.last_failed_at),
        "quarantined_at": iso(r.quarantined_at),
        "released_at": iso(r.released_at),
        "released_by": r.released_by,
    }
