"""Wrong-credential counters of :mod:`app.throttle`, one row per (scope, key), shared by every process.

A failure is one atomic upsert (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, SQLite and
PostgreSQL alike): a window that ended restarts at one failure. :func:`trim` keeps a scope bounded
(expired rows dropped, then the oldest windows beyond ``keep``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db.models import CredentialFailure

FAILURE = CredentialFailure.__table__  # type: ignore[attr-defined]


def state(conn: Connection, scope: str, key: str) -> tuple[int, float] | None:
    """``(failures, window_ends)`` of the key, or None when it has no row."""
    row = conn.execute(
        select(FAILURE.c.failures, FAILURE.c.window_ends).where(FAILURE.c.scope == scope, FAILURE.c.key == key)
    ).first()
    return (int(row[0]), float(row[1])) if row is not None else None


def record_failure(conn: Connection, *, scope: str, key: str, now: float, window: float) -> tuple[int, float]:
    """Count one failure; returns the key's ``(failures, window_ends)`` after it."""
    factory: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    ended = FAILURE.c.window_ends <= now
    stmt = (
        factory(FAILURE)
        .values(scope=scope, key=key, failures=1, window_ends=now + window)
        .on_conflict_do_update(
            index_elements=["scope", "key"],
            set_={
                "failures": case((ended, 1), else_=FAILURE.c.failures + 1),
                "window_ends": case((ended, now + window), else_=FAILURE.c.window_ends),
            },
        )
        .returning(FAILURE.c.failures, FAILURE.c.window_ends)
    )
    row = conn.execute(stmt).one()
    return int(row[0]), float(row[1])


def forget(conn: Connection, scope: str, key: str) -> None:
    conn.execute(delete(FAILURE).where(FAILURE.c.scope == scope, FAILURE.c.key == key))


def trim(conn: Connection, scope: str, *, now: float, keep: int) -> None:
    """Drop every ended window, then the oldest of ``scope`` beyond ``keep`` rows."""
    conn.execute(delete(FAILURE).where(FAILURE.c.window_ends <= now))
    rows = count(conn, scope)
    if rows <= keep:
        return
    oldest = (
        select(FAILURE.c.key)
        .where(FAILURE.c.scope == scope)
        .order_by(FAILURE.c.window_ends, FAILURE.c.key)
        .limit(rows - keep)
    )
    conn.execute(delete(FAILURE).where(FAILURE.c.scope == scope, FAILURE.c.key.in_(oldest.scalar_subquery())))


def count(conn: Connection, scope: str) -> int:
    return int(conn.execute(select(func.count()).select_from(FAILURE).where(FAILURE.c.scope == scope)).scalar_one())
