"""CDS Hooks client statements: registered clients (``cds_client``) and JWT ids seen (``cds_jti``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db.models import CdsClient, CdsJti

CLIENT = CdsClient.__table__  # type: ignore[attr-defined]
JTI = CdsJti.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ClientRecord:
    iss: str
    jwks: dict[str, Any] | None
    jwks_url: str | None
    jku_allowlist: tuple[str, ...] = ()


def add_client(conn: Connection, record: ClientRecord, *, now: datetime) -> None:
    """Register (or replace) the client ``record.iss``."""
    conn.execute(delete(CLIENT).where(CLIENT.c.iss == record.iss))
    conn.execute(CLIENT.insert().values(
        iss=record.iss, jwks=record.jwks, jwks_url=record.jwks_url,
        jku_allowlist=list(record.jku_allowlist), created_at=now,
    ))  # fmt: skip


def get_client(conn: Connection, iss: str) -> ClientRecord | None:
    row = conn.execute(select(CLIENT).where(CLIENT.c.iss == iss)).first()
    if row is None:
        return None
    return ClientRecord(row.iss, row.jwks, row.jwks_url, tuple(row.jku_allowlist or ()))


def list_clients(conn: Connection) -> list[ClientRecord]:
    rows = conn.execute(select(CLIENT).order_by(CLIENT.c.iss)).all()
    return [ClientRecord(r.iss, r.jwks, r.jwks_url, tuple(r.jku_allowlist or ())) for r in rows]


_REMEMBER: dict[str, Any] = {}  # per dialect: one compiled-once insert-or-ignore (the hot path of every hook call)


def _remember_stmt(dialect: str) -> Any:
    stmt = _REMEMBER.get(dialect)
    if stmt is None:
        factory = pg_insert if dialect == "postgresql" else sqlite_insert
        values: dict[str, Any] = {
            "iss": bindparam("iss"),
            "jti": bindparam("jti"),
            "expires_at": bindparam("expires_at"),
        }
        stmt = factory(JTI).values(values).on_conflict_do_nothing(index_elements=["iss", "jti"]).returning(JTI.c.jti)
        _REMEMBER[dialect] = stmt
    return stmt


def remember_jti(conn: Connection, *, iss: str, jti: str, expires_at: datetime) -> bool:
    """Record a JWT id; False when this issuer already used it (a replay)."""
    stmt = _remember_stmt(conn.dialect.name)
    return conn.execute(stmt, {"iss": iss, "jti": jti, "expires_at": expires_at}).first() is not None


def forget_expired(conn: Connection, *, before: datetime) -> int:
    """Drop JWT ids whose token expired before ``before`` (a replay of those fails on ``exp``)."""
    return int(conn.execute(delete(JTI).where(JTI.c.expires_at < before)).rowcount or 0)
