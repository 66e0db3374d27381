"""CDS Hooks client statements: registered clients (``cds_client``) and JWT ids seen (``cds_jti``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from app.db.models import CdsClient, CdsJti
from app.db.sql import insert_ignore

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


def remember_jti(conn: Connection, *, iss: str, jti: str, expires_at: datetime) -> bool:
    """Record a JWT id; False when this issuer already used it (a replay)."""
    row = {"iss": iss, "jti": jti, "expires_at": expires_at}
    return bool(insert_ignore(conn, JTI, [row], ["iss", "jti"], "jti"))


def forget_expired(conn: Connection, *, before: datetime) -> int:
    """Drop JWT ids whose token expired before ``before`` (a replay of those fails on ``exp``)."""
    return int(conn.execute(delete(JTI).where(JTI.c.expires_at < before)).rowcount or 0)
