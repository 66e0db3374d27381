"""Small SQL helpers shared by the repositories (dialect-aware insert-or-ignore, UTC now)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam
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
    stmt = _insert_ignore(conn.dialect.name, table, tuple(conflict), returning, tuple(rows[0]))
    out = []
    for row in rows:  # one statement per row keeps RETURNING portable across SQLite versions
        result = conn.execute(stmt, row).first()
        if result is not None:
            out.append(result[0])
    return out


@functools.lru_cache(maxsize=256)
def _insert_ignore(
    dialect: str, table: Table, conflict: tuple[str, ...], returning: str, columns: tuple[str, ...]
) -> Any:
    """The insert-or-ignore statement for these columns, built once (its parameters bound per row)."""
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {c: bindparam(c, type_=table.c[c].type) for c in columns}
    stmt = factory(table).values(values).on_conflict_do_nothing(index_elements=conflict)
    return stmt.returning(table.c[returning])


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    utc = as_utc(value)
    return utc.isoformat() if utc else None
