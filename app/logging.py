"""Structured logs (structlog, JSON by default) that never carry PHI or secrets.

Log references, ids and versions as fields. A processor drops any field whose name says it holds a
body, a resource or a credential, whatever the caller passed, masks bearer tokens in strings and cuts
a rendered database error at its ``[SQL: ...]`` (statement, parameters).
:func:`safe_error` describes an exception without the data it may quote (for logs and error records).
Standard-library loggers (uvicorn, alembic) go through the same processors.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from sqlalchemy.exc import StatementError

SENSITIVE_KEYS = frozenset(
    {
        "body",
        "resource",
        "resources",
        "payload",
        "claim",
        "bundle",
        "authorization",
        "headers",
        "secret",
        "token",
        "password",
        "patient_name",
        "name",
        "birthdate",
        "address",
        "signing_secret",
        "admin_token",
    }
)
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")


def drop_sensitive(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if key.lower() in SENSITIVE_KEYS:
            event[key] = "[dropped]"
        elif isinstance(event[key], str):
            value = _BEARER.sub("Bearer [dropped]", event[key])
            cut = value.find("[SQL:")  # a rendered SQLAlchemy error: the statement and its parameters go
            event[key] = value if cut < 0 else value[:cut].rstrip() + " [SQL dropped]"
    return event


def configure_logging(*, level: str = "INFO", fmt: str = "json") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_sensitive,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        # filter_by_level first: a debug call at INFO costs a level check, not the whole chain
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "pyx12", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_X12_SHAPED = re.compile(r"\S*[*~^|]\S*")
MESSAGE_CHARS = 200


def safe_error(exc: BaseException) -> tuple[str, str]:
    """``(class name, message)`` fit to store and log: no SQL parameters, no quoted values, no segments."""
    inner: BaseException = exc
    if isinstance(exc, StatementError) and isinstance(exc.orig, BaseException):
        inner = exc.orig  # the driver's own error, without the statement and its parameters
    lines = str(inner).strip().splitlines()
    message = _X12_SHAPED.sub("…", _QUOTED.sub("…", lines[0] if lines else ""))
    return type(inner).__name__, message[:MESSAGE_CHARS]
