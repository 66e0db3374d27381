"""Database errors as one PHI-free line, for logs, ``last_error`` and stored reasons.

A driver error rendered by SQLAlchemy carries the SQL statement, its parameters (a patient's
surname, a resource body) and the server's DETAIL line (``Key (x)=(value)``). :func:`describe_error`
keeps only what names the failure: the exception classes, the SQLSTATE, and the constraint, table
and column names. Any other exception is ``Class: message`` (our own errors' messages carry ids,
element paths and rules, never values).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError

MAX_LENGTH = 500


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, StatementError):
        return _statement_error(exc)
    if isinstance(exc, SQLAlchemyError):  # no statement, but its message may still quote values
        return type(exc).__name__
    if _is_driver_error(exc):  # a driver error that SQLAlchemy did not wrap (raw cursor at intake)
        return _statement_error_of(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _statement_error(exc: StatementError) -> str:
    return _describe(
        type(exc).__name__, exc.orig, invalidated=isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _statement_error_of(orig: BaseException) -> str:
    return _describe(None, orig, invalidated=False)


def _describe(outer: str | None, orig: BaseException | None, *, invalidated: bool) -> str:
    parts = [outer] if outer else []
    if orig is not None:
        parts.append(type(orig).__name__)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate:
        parts.append(f"SQLSTATE {sqlstate}")
    diag = getattr(orig, "diag", None)
    for label in ("table_name", "column_name", "constraint_name"):
        name = getattr(diag, label, None) if diag is not None else None
        if name:
            parts.append(f"{label.split('_')[0]} {name}")
    if orig is not None and _is_sqlite(orig):  # SQLite's messages name constraints and tables, not values
        parts.append(str(orig).splitlines()[0][:200])
    if invalidated:
        parts.append("connection lost")
    head = 2 if outer else 1
    return ": ".join(parts[:head]) + "".join(f" ({p})" for p in parts[head:])


def _is_driver_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("sqlite3", "psycopg")) or (isinstance(exc, OverflowError) and "SQLite" in str(exc))


def _is_sqlite(orig: BaseException) -> bool:
    return type(orig).__module__.startswith("sqlite3")
