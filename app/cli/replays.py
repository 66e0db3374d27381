"""``claimbridge inbox`` and ``claimbridge outbox``: dead inbox rows and dead deliveries, listed and replayed.

An inbox row is dead when its expansion into jobs failed; a delivery when its destination refused it
for good or its attempts ran out. ``replay ID|--all`` puts them back (a row is expanded again, its
jobs deduplicated on their keys; a delivery is sent again with the same idempotency key), audited.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.cli.common import CliError, cli_actor, handles_errors, print_json, services_from_env
from app.db import inbox_dead_repo, outbox_repo
from app.db.engine import read_only
from app.db.replays_repo import DeadKind, replay_dead
from app.db.sql import iso, utcnow

inbox_app = typer.Typer(help="Inbox rows whose expansion into jobs failed: list and replay.", no_args_is_help=True)
outbox_app = typer.Typer(help="Deliveries (EHR write-back, clearinghouse) that failed for good.", no_args_is_help=True)
console = Console()
DB_INT_MAX = 2**63 - 1
WHAT = {"inbox": "dead inbox row", "outbox": "dead delivery"}
PLURAL = {"inbox": "dead inbox rows", "outbox": "dead deliveries"}


def row_id(value: str | None, kind: DeadKind) -> int | None:
    """The ID argument as a row id (a whole number a database integer holds), else a one-line error."""
    if value is None:
        return None
    if not value.isdigit() or int(value) > DB_INT_MAX:
        raise CliError(f"{kind} ID must be a whole number, not {value[:40]!r}")
    return int(value)


def _replay(kind: DeadKind, value: str | None, all_: bool) -> None:
    one = row_id(value, kind)
    if (one is None) == (not all_):
        raise CliError(f"give a {WHAT[kind]} ID or --all (not both)")
    with services_from_env() as services, services.engine.begin() as conn:
        n = replay_dead(conn, kind, row=one, actor=cli_actor(), actor_kind="cli", now=utcnow())
    if n == 0 and one is not None:
        raise CliError(f"no {WHAT[kind]} {one}")
    typer.echo(f"replayed {n} {WHAT[kind] if n == 1 else PLURAL[kind]}")


@inbox_app.command("dead")
@handles_errors
def inbox_dead(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List dead inbox rows: subscription, bundle, how many jobs they stand for, and why expansion failed."""
    with services_from_env() as services, read_only(services.engine) as conn:
        rows = [{**asdict(d), "received_at": iso(d.received_at)} for d in inbox_dead_repo.list_dead(conn)]
    if json:
        print_json(rows)
        return
    table = Table("inbox", "subscription", "bundle", "kind", "jobs", "received", "reason")
    for r in rows:
        jobs = "?" if r["jobs"] is None else str(r["jobs"])
        received, reason = r["received_at"] or "-", (r["reason"] or "")[:80]
        table.add_row(str(r["id"]), r["subscription_id"], r["bundle_id"] or "-", r["kind"], jobs, received, reason)
    console.print(table if rows else "no dead inbox rows")


@inbox_app.command("replay")
@handles_errors
def inbox_replay(
    inbox_id: Annotated[str | None, typer.Argument(metavar="ID", help="Dead inbox row id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead inbox row")] = False,
) -> None:
    """Put dead inbox rows back to pending: the worker expands them again (no job twice: dedupe keys)."""
    _replay("inbox", inbox_id, all_)


@outbox_app.command("dead")
@handles_errors
def outbox_dead(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List dead deliveries: destination, kind, idempotency key, attempts and the last error."""
    with services_from_env() as services, read_only(services.engine) as conn:
        rows = [{**asdict(d), "created_at": iso(d.created_at)} for d in outbox_repo.list_dead(conn)]
    if json:
        print_json(rows)
        return
    table = Table("delivery", "destination", "kind", "key", "attempts", "created", "reason")
    for r in rows:
        created, reason = r["created_at"] or "-", (r["reason"] or "")[:80]
        table.add_row(str(r["id"]), r["destination"], r["kind"], r["key"], str(r["attempts"]), created, reason)
    console.print(table if rows else "no dead deliveries")


@outbox_app.command("replay")
@handles_errors
def outbox_replay(
    delivery_id: Annotated[str | None, typer.Argument(metavar="ID", help="Dead delivery id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead delivery")] = False,
) -> None:
    """Send dead deliveries again (fresh attempts, same idempotency key: no duplicate side effect)."""
    _replay("outbox", delivery_id, all_)
