"""Shared CLI plumbing: settings and services from the environment, one-line errors.

:func:`handles_errors` reads the error tree (:mod:`app.errors`) once for every command: a
:class:`~app.errors.FatalError` (bad input, bad configuration, a refusal) prints one line and exits
2; a :class:`~app.errors.TemporaryError` (a partner or the database is unavailable) prints one line
saying to try again and exits 1. Invalid settings exit 2 without echoing the value (it may be a secret).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import orjson
import typer
from pydantic import ValidationError

from app.errors import ClaimbridgeError, FatalError, TemporaryError
from app.logging import configure_logging
from app.settings import Settings, load_settings

P = ParamSpec("P")
R = TypeVar("R")


class CliError(FatalError):
    """A user-facing problem: printed as one line, exit code 2."""


def fail(message: str, *, code: int = 2) -> NoReturn:
    typer.echo(f"claimbridge: error: {message}", err=True)
    raise typer.Exit(code)


def settings_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
    return f"invalid settings: {where}: {first.get('msg')}"  # never echo the input (may be a secret)


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except TemporaryError as exc:
            fail(f"{exc} (temporary: try again later)", code=1)
        except ClaimbridgeError as exc:
            fail(str(exc) or type(exc).__name__)
        except ValidationError as exc:
            fail(settings_error(exc))

    return wrapper


def get_settings(config_dir: Path | None = None, **overrides: Any) -> Settings:
    if config_dir is not None:
        overrides["config_dir"] = config_dir
    settings = load_settings(**overrides)
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return settings


@contextmanager
def services_from_env(config_dir: Path | None = None, **overrides: Any) -> Iterator[Any]:
    from app.services import build_services

    services = build_services(get_settings(config_dir, **overrides))
    try:
        yield services
    finally:
        services.close()


def cli_actor() -> str:
    """Who ran the command, for the audit trail (the login name; ``cli`` when unknown)."""
    return os.environ.get("USER") or "cli"


def audit_config_change(conn: Any, *, entity: str, detail: dict[str, Any]) -> None:
    """Append a ``config-change`` audit event in the caller's transaction (never a secret in ``detail``)."""
    from app.db import audit_repo
    from app.db.sql import utcnow

    audit_repo.record(
        conn, actor=cli_actor(), actor_kind="cli", action="config-change", entity=entity, now=utcnow(), detail=detail
    )


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
