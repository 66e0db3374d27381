"""Secrets for CLI commands: from a file or stdin rather than the command line, and strong enough.

A secret given as an option value is visible to every local user (``ps``) and stays in shell
history; ``--secret-file PATH`` (``-`` for stdin) keeps it out of both. The old value options still
work for scripts that use them, with a warning on stderr. A registered secret must pass
:func:`app.credentials.secret_problem` (``security.min_secret_length``, default 20 characters).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from app.cli.common import CliError
from app.credentials import secret_problem
from app.settings import Settings


def secret_input(value: str | None, path: str | None, *, name: str) -> str | None:
    """The secret from ``--NAME-file`` (a path, or ``-`` for stdin) or, with a warning, ``--NAME``."""
    if value is not None and path is not None:
        raise CliError(f"give --{name} or --{name}-file, not both")
    if value is not None:
        typer.echo(
            f"claimbridge: warning: --{name} on the command line is visible to other users; use --{name}-file",
            err=True,
        )
        return value
    if path is None:
        return None
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"--{name}-file: cannot read it: {type(exc).__name__}") from None
    secret = text.strip()
    if not secret:
        raise CliError(f"--{name}-file: empty")
    return secret


def check_strength(settings: Settings, **secrets: str | None) -> None:
    minimum = settings.security.min_secret_length
    for name, secret in secrets.items():
        if secret is None:
            continue
        problem = secret_problem(secret, min_length=minimum)
        if problem:
            raise CliError(f"the {name.replace('_', '-')} {problem} (generate one: openssl rand -base64 32)")
