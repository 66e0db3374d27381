"""``claimbridge x12 quarantine list|release``: inbound files the worker stopped retrying.

``list`` shows the quarantined files (``--status failing|released|all`` for the others) with their
attempts and last error; ``release ID`` offers one again after a fix (the folder source moves it back
into the inbox; the worker's next poll ingests it). Exit 0 when it ran, 2 with one line otherwise.
The same as ``GET /api/x12/quarantine`` and ``POST /api/x12/quarantine/{id}/release``.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.adapters.registry import build_adapters, build_response_source
from app.cli.common import CliError, handles_errors, print_json, services_from_env
from app.db import quarantine_repo
from app.db.engine import read_only
from app.worker.quarantine import NoSuchFile, NotQuarantined, release

quarantine_app = typer.Typer(help="Inbound X12 files quarantined after repeated failures.", no_args_is_help=True)
console = Console()


@quarantine_app.command("list")
@handles_errors
def quarantine_list(
    status: Annotated[str, typer.Option(help="quarantined | failing | released | all")] = "quarantined",
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List quarantined inbound files: name, source, attempts, last error."""
    if status != "all" and status not in quarantine_repo.STATUSES:
        raise CliError(f"--status {status!r} is not one of {', '.join(quarantine_repo.STATUSES)} or all")
    with services_from_env() as services, read_only(services.engine) as conn:
        rows = quarantine_repo.list_failures(conn, status=None if status == "all" else status, limit=100_000)
    if json:
        print_json(rows)
        return
    table = Table("id", "source", "file", "status", "attempts", "last error", "quarantined at")
    for r in rows:
        error = f"{r['error_class']}: {r['error']}"
        table.add_row(
            str(r["id"]),
            r["source"],
            r["name"],
            r["status"],
            str(r["attempts"]),
            error[:80],
            r["quarantined_at"] or "-",
        )
    console.print(table if rows else f"no {status} inbound files")


@quarantine_app.command("release")
@handles_errors
def quarantine_release(failure_id: Annotated[int, typer.Argument(help="Quarantined file id (from list)")]) -> None:
    """Offer a quarantined file again, after fixing what made it fail."""
    with services_from_env() as services:
        source = build_response_source(services.settings, build_adapters(services.settings))
        try:
            row = release(
                services.engine,
                source,
                failure_id,
                by=f"cli:{getpass.getuser()}",
                now=services.clock(),
                actor_kind="cli",
            )
        except (NoSuchFile, NotQuarantined) as exc:
            raise CliError(str(exc)) from exc
    typer.echo(f"released {row['name']} ({row['source']}): the next poll ingests it")
