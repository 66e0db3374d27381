"""Console accounts, browser sessions and SMART app registrations (tables of :mod:`app.web`).

Sessions are server-side: the browser holds a random token, the table holds its SHA-256 (a copied
table cannot be replayed as cookies) and the session's data (SMART tokens never leave the server).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from app.credentials import DEVELOPMENT_KEYS, SecretKeys
from app.db.models import ConsoleUser, SmartApp, WebSession
from app.db.sql import as_utc

USER = ConsoleUser.__table__  # type: ignore[attr-defined]
SESSION = WebSession.__table__  # type: ignore[attr-defined]
SMART_APP = SmartApp.__table__  # type: ignore[attr-defined]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class UserRecord:
    name: str
    password_hash: str
    role: str
    disabled: bool


def upsert_user(conn: Connection, *, name: str, password_hash: str, role: str, now: datetime) -> bool:
    """Create the account (True) or reset its password and role (False)."""
    found = conn.execute(select(USER.c.name).where(USER.c.name == name)).first()
    if found is None:
        conn.execute(
            insert(USER).values(name=name, password_hash=password_hash, role=role, disabled=False, created_at=now)
        )
        return True
    conn.execute(update(USER).where(USER.c.name == name).values(password_hash=password_hash, role=role))
    return False


def get_user(conn: Connection, name: str) -> UserRecord | None:
    row = conn.execute(select(USER).where(USER.c.name == name)).first()
    return UserRecord(row.name, row.password_hash, row.role, row.disabled) if row else None


def set_password_hash(conn: Connection, name: str, password_hash: str) -> None:
    conn.execute(update(USER).where(USER.c.name == name).values(password_hash=password_hash))


@dataclass(frozen=True)
class SessionRecord:
    id: str
    kind: str
    subject: str | None
    role: str | None
    csrf: str
    data: dict[str, Any]
    created_at: datetime
    expires_at: datetime


def create_session(
    conn: Connection,
    *,
    token: str,
    kind: str,
    subject: str | None,
    role: str | None,
    csrf: str,
    data: dict[str, Any],
    now: datetime,
    expires_at: datetime,
) -> None:
    conn.execute(
        insert(SESSION).values(
            id=token_digest(token),
            kind=kind,
            subject=subject,
            role=role,
            csrf=csrf,
            data=data,
            created_at=now,
            expires_at=expires_at,
        )
    )


def get_session(conn: Connection, token: str) -> SessionRecord | None:
    row = conn.execute(select(SESSION).where(SESSION.c.id == token_digest(token))).first()
    if row is None:
        return None
    created, expires = as_utc(row.created_at), as_utc(row.expires_at)
    assert created is not None and expires is not None
    return SessionRecord(row.id, row.kind, row.subject, row.role, row.csrf, dict(row.data), created, expires)


def touch_session(conn: Connection, session_id: str, *, expires_at: datetime) -> None:
    conn.execute(update(SESSION).where(SESSION.c.id == session_id).values(expires_at=expires_at))


def update_session_data(conn: Connection, session_id: str, data: dict[str, Any]) -> None:
    conn.execute(update(SESSION).where(SESSION.c.id == session_id).values(data=data))


def take_session(conn: Connection, token: str, *, kind: str) -> SessionRecord | None:
    """Delete the session of ``kind`` and return it: a pending SMART launch is consumed exactly once."""
    found = get_session(conn, token)
    if found is None or found.kind != kind:
        return None
    result = conn.execute(delete(SESSION).where(SESSION.c.id == found.id))
    return found if result.rowcount == 1 else None


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(SESSION).where(SESSION.c.id == token_digest(token)))


def purge_expired(conn: Connection, *, now: datetime) -> int:
    return int(conn.execute(delete(SESSION).where(SESSION.c.expires_at < now)).rowcount)


@dataclass(frozen=True)
class SmartAppRecord:
    ehr: str
    client_id: str
    client_secret: str | None = field(repr=False)  # decrypted; stored Fernet-encrypted (app.credentials)
    key_path: str | None
    scopes: str

    @property
    def auth_method(self) -> str:
        if self.key_path:
            return "private_key_jwt"
        return "client_secret_basic" if self.client_secret else "none"


def set_smart_app(
    conn: Connection,
    *,
    ehr: str,
    client_id: str,
    client_secret: str | None,
    key_path: str | None,
    scopes: str,
    now: datetime,
    keys: SecretKeys = DEVELOPMENT_KEYS,
) -> None:
    """Register (or replace) the SMART app of ``ehr``; a client secret is stored encrypted (``keys``)."""
    stored = keys.encrypt(client_secret) if client_secret else None
    values = {"client_id": client_id, "client_secret": stored, "key_path": key_path, "scopes": scopes}
    if conn.execute(select(SMART_APP.c.ehr).where(SMART_APP.c.ehr == ehr)).first() is None:
        conn.execute(insert(SMART_APP).values(ehr=ehr, created_at=now, **values))
    else:
        conn.execute(update(SMART_APP).where(SMART_APP.c.ehr == ehr).values(**values))


def get_smart_app(conn: Connection, ehr: str, *, keys: SecretKeys = DEVELOPMENT_KEYS) -> SmartAppRecord | None:
    """The SMART app of ``ehr`` with its client secret decrypted (a pre-encryption plaintext row is read as is)."""
    row = conn.execute(select(SMART_APP).where(SMART_APP.c.ehr == ehr)).first()
    if row is None:
        return None
    secret = keys.decrypt(row.client_secret) if row.client_secret else None
    return SmartAppRecord(row.ehr, row.client_id, secret, row.key_path, row.scopes)
