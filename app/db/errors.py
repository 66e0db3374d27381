"""Database errors as one PHI-free line, for logs, ``last_error`` and stored reasons.

A driver error rendered by SQLAlchemy carries the SQL statement, its parameters (a patient's
surname, a resource body) and the server's DETAIL line (``Key (x)=(value)``). :func:`describe_error`
keeps only what names the failure: the exception classes, the SQLSTATE, and the constraint, table
and column names. Any other exception is ``Class: message`` (first line, bounded).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError

MAX_LENGTH = 500


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, StatementError):
        return _statement_error(exc)
    if isinstance(exc, SQLAlchemyError):  # no statement, but its message may still quote values
        return type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:MAX_LENGTH] if text else type(exc).__name__


def _statement_error(exc: StatementError) -> str:
    orig = exc.orig
    parts = [type(exc).__name__]
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
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        parts.append("connection lost")
    return ": ".join(parts[:2]) + "".join(f" ({p})" for p in parts[2:])


def _is_sqlite(orig: BaseException) -> bool:
    return type(orig).__module__.startswith("sqlite3")
