"""Small SQL helpers shared by the repositories (dialect-aware insert-or-ignore, UTC now)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def utcnow() -> datetime:
    return datetime.now(UTC)


def insert_ignore(
    conn: Connection, table: Table, rows: list[dict[str, Any]], conflict: list[str], returning: str
) -> list[Any]:
    """Insert rows, skipping those that collide on ``conflict``; return ``returning`` of inserted rows."""
    if not rows:
        return []
    dialect = conn.dialect.name
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    out = []
    for row in rows:  # one statement per row keeps RETURNING portable across SQLite versions
        stmt = factory(table).values(**row).on_conflict_do_nothing(index_elements=conflict)
        result = conn.execute(stmt.returning(table.c[returning])).first()
        if result is not None:
            out.append(result[0])
    return out


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    utc = as_utc(value)
    return utc.isoformat() if utc else None
