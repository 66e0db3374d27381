"""Alembic, driven from code: upgrade to head, and tell whether a database is current.

Every process migrates at start-up (``serve`` and ``worker`` alike), so on a fresh PostgreSQL
database several may try at once. Without a lock each sees no ``alembic_version`` table in its own
transaction, creates it, and all but the first fail (``UniqueViolation`` on ``pg_type``): the process
exits at start-up. :func:`upgrade` therefore takes a transaction-scoped advisory lock per schema
first (``pg_advisory_xact_lock``): the others wait, then find the schema current and do nothing.
The wait, and any lock the migration's DDL waits for (a running worker's transaction), is bounded
by ``lock_wait`` (``lock_timeout``): past it :class:`MigrationBusy` says who holds the lock, not a
silent hang. SQLite needs none of this: the migration's ``BEGIN IMMEDIATE`` serializes it.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from app.credentials import SecretKeys
from app.errors import TemporaryError

log = logging.getLogger("claimbridge.db.migrate")

#: First key of the migration advisory lock (ASCII ``cbmg``); the second is the schema's ``hashtext``.
LOCK_CLASS = 0x63626D67
#: PostgreSQL SQLSTATE of ``lock_timeout`` expiring.
LOCK_NOT_AVAILABLE = "55P03"
_LOCK_ARGS = "CAST(:k AS integer), hashtext(current_schema())"


class MigrationBusy(TemporaryError):
    """Start-up waited longer than its bound for another process's migration or for a lock the
    migration needs; the message names the PostgreSQL backends holding it."""


MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, *, keys: SecretKeys | None = None, lock_wait: float = 60.0) -> None:
    """Migrate to head. ``keys`` (the configured ``security.secret_key``) for migrations that encrypt
    stored credentials; without them such a migration refuses to run over rows it would have to encrypt.
    On PostgreSQL one process at a time per schema (advisory lock), each lock waited for at most
    ``lock_wait`` seconds (:class:`MigrationBusy`)."""
    cfg = alembic_config()
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:  # begins the transaction alembic then runs in (an external one: committed below)
            take_migration_lock(connection, lock_wait)
        cfg.attributes["connection"] = connection
        cfg.attributes["secret_keys"] = keys
        try:
            command.upgrade(cfg, "head")
        except DBAPIError as exc:
            if postgres and getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise MigrationBusy(f"a migration step waited more than {lock_wait:g} s for a table lock") from None
            raise
        connection.commit()


def take_migration_lock(connection: Connection, wait: float) -> None:
    """Hold this schema's migration lock until ``connection``'s transaction ends (PostgreSQL)."""
    connection.execute(text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": f"{max(1, int(wait * 1000))}ms"})
    if connection.execute(text(f"SELECT pg_try_advisory_xact_lock({_LOCK_ARGS})"), {"k": LOCK_CLASS}).scalar():
        return
    holders = lock_holders(connection)
    log.warning("another process is migrating this database; waiting up to %g s (backend pids %s)", wait, holders)
    try:
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_ARGS})"), {"k": LOCK_CLASS})
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        connection.rollback()
        raise MigrationBusy(
            f"another process has held the migration lock for more than {wait:g} s "
            f"(PostgreSQL backend pids {lock_holders(connection)}; see pg_stat_activity)"
        ) from None
    log.warning("migration lock acquired after waiting")


def lock_holders(connection: Connection) -> list[int]:
    """Backend pids holding this schema's migration lock."""
    rows = connection.execute(
        text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = CAST(:k AS oid) "
            "AND objid = CAST(hashtext(current_schema()) AS oid) AND objsubid = 2"
        ),
        {"k": LOCK_CLASS},
    )
    return sorted(int(pid) for (pid,) in rows)


@functools.cache
def head_revision() -> str | None:
    """The newest revision of the scripts shipped with this code (read once per process: ``/readyz``
    asks on every probe, and loading the scripts costs tens of milliseconds)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def autogenerate(engine: Engine, message: str) -> None:  # developer tool
    cfg = alembic_config()
    with engine.connect() as connection:
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)
