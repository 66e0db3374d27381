"""``claimbridge users add``: console accounts (the password is read from standard input, never an argument)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from app.cli.common import CliError, handles_errors, services_from_env
from app.db import audit_repo, web_repo
from app.db.sql import utcnow

users_app = typer.Typer(help="Console accounts (roles viewer, engineer, admin).", no_args_is_help=True)
MIN_PASSWORD = 12


@users_app.command("add")
@handles_errors
def users_add(
    name: Annotated[str, typer.Option(help="Sign-in name")],
    role: Annotated[str, typer.Option(help="viewer | engineer | admin")] = "viewer",
) -> None:
    """Create a console account, or reset its password and role (password: first line of stdin)."""
    from app.web.sessions import ROLES, hash_password

    if role not in ROLES:
        raise CliError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    if not name.strip() or len(name) > 100 or any(c.isspace() or c == ":" for c in name):
        raise CliError("--name must be 1-100 characters without spaces or ':' (single sign-on users are oidc:...)")
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        raise CliError(f"the password (read from stdin) must be at least {MIN_PASSWORD} characters")
    with services_from_env() as services, services.engine.begin() as conn:
        new = web_repo.upsert_user(conn, name=name, password_hash=hash_password(password), role=role, now=utcnow())
        audit_repo.record(
            conn,
            actor=os.environ.get("USER") or "cli",
            actor_kind="cli",
            action="config-change",
            entity=f"console-user/{name}",
            now=utcnow(),
            detail={"role": role, "created": new},
        )
    typer.echo(f"{'added' if new else 'updated'} console user {name} ({role})")
