"""Operator commands: subscriptions, dead letters, claims, database."""

from __future__ import annotations

import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from app.cli.common import CliError, audit_config_change, handles_errors, print_json, services_from_env
from app.cli.secrets_input import check_strength, secret_input
from app.credentials import SecretKeys
from app.db import audit_repo, claims_repo, ehr_repo, queue_repo, subscriptions_repo
from app.db.engine import read_only
from app.db.sql import iso, utcnow

subscriptions_app = typer.Typer(help="Inbound subscriptions (EHR -> claimbridge).", no_args_is_help=True)
dlq_app = typer.Typer(
    help="Dead letters: jobs that failed for good, with their input and reason.", no_args_is_help=True
)
claims_app = typer.Typer(help="Stored claims.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
console = Console()
MAX_SIGNING_SECRET = 64


@subscriptions_app.command("add")
@handles_errors
def subscriptions_add(
    id: Annotated[str | None, typer.Option("--id", help="Subscription id on the EHR")] = None,
    secret: Annotated[
        str | None, typer.Option(help="Shared secret (deprecated: visible in ps and history; use --secret-file)")
    ] = None,
    secret_file: Annotated[
        str | None, typer.Option(help="Read the shared secret the EHR sends as Bearer from this file ('-': stdin)")
    ] = None,
    ehr: Annotated[str | None, typer.Option(help="EHR name (for id-only/empty payloads)")] = None,
    signing_secret: Annotated[
        str | None, typer.Option(help="HMAC key for X-Signature (deprecated on the command line)")
    ] = None,
    signing_secret_file: Annotated[
        str | None, typer.Option(help="Also require an X-Signature HMAC with the key in this file ('-': stdin)")
    ] = None,
    content: Annotated[str | None, typer.Option(help="empty | id-only | full-resource")] = None,
    from_file: Annotated[Path | None, typer.Option(help="Read id, secret and content from a Subscription JSON")] = None,
) -> None:
    """Register an inbound subscription created on the EHR side by its administrator."""
    topic, heartbeat = None, None
    secret = secret_input(secret, secret_file, name="secret")
    signing_secret = secret_input(signing_secret, signing_secret_file, name="signing-secret")
    if from_file is not None:
        id, secret, content, topic, heartbeat = _from_subscription_file(from_file, id, secret, content)
    if not id or not secret:
        raise CliError("--id and --secret-file are required (or --from-file with a channel.header Authorization)")
    if content not in (None, "empty", "id-only", "full-resource"):
        raise CliError(f"--content must be empty, id-only or full-resource, not {content!r}")
    with services_from_env() as services, services.engine.begin() as conn:
        check_strength(services.settings, secret=secret, signing_secret=signing_secret)
        if signing_secret and len(signing_secret) > MAX_SIGNING_SECRET:  # its encrypted form must fit the column
            raise CliError(f"the signing-secret is longer than {MAX_SIGNING_SECRET} characters")
        if ehr is not None and ehr_repo.get_ehr(conn, ehr) is None:
            raise CliError(f"--ehr {ehr!r} is not registered (claimbridge ehrs add --name {ehr} ...)")
        new = subscriptions_repo.add_subscription(  # a SubscriptionConflict is one line (handles_errors)
            conn,
            subscription_id=id,
            secret=secret,
            ehr=ehr,
            signing_secret=signing_secret,
            content=content,
            topic=topic,
            heartbeat_period=heartbeat,
            now=utcnow(),
            keys=SecretKeys(services.settings.security.secret_key.get_secret_value()),
        )
        audit_config_change(
            conn,
            entity=f"subscription/{id}",
            detail={"created": new, "ehr": ehr, "content": content, "signed": bool(signing_secret)},
        )
    typer.echo(f"{'added' if new else 'updated'} subscription {id}")


def _from_subscription_file(
    path: Path, sub_id: str | None, secret: str | None, content: str | None
) -> tuple[str | None, str | None, str | None, str | None, int | None]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise CliError(f"{path}: cannot read a Subscription: {exc}") from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Subscription":
        raise CliError(f"{path}: not a Subscription resource")
    channel = data.get("channel") or {}
    for header in channel.get("header") or ():
        name, _, value = str(header).partition(":")
        if name.strip().lower() == "authorization" and value.strip().lower().startswith("bearer "):
            secret = secret or value.strip()[7:].strip()
    for ext in (channel.get("_payload") or {}).get("extension") or ():
        if str(ext.get("url", "")).endswith("backport-payload-content"):
            content = content or ext.get("valueCode")
    heartbeat = next(
        (
            e.get("valueUnsignedInt")
            for e in channel.get("extension") or ()
            if str(e.get("url", "")).endswith("backport-heartbeat-period")
        ),
        None,
    )
    return sub_id or data.get("id"), secret, content, data.get("criteria"), heartbeat


@subscriptions_app.command("list")
@handles_errors
def subscriptions_list(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show status, last event number, last heartbeat and health of each subscription."""
    with services_from_env() as services, read_only(services.engine) as conn:
        rows = subscriptions_repo.list_subscriptions(conn)
    if json:
        print_json(rows)
        return
    columns = ("id", "ehr", "status", "health", "open gaps", "failed gaps", "content", "last event", "last heartbeat")
    table = Table(*columns)
    for r in rows:
        table.add_row(
            r["id"],
            r["ehr"] or "-",
            r["status"],
            r["health"],
            str(r["open_gaps"]),
            str(r["failed_gaps"]),
            r["content"] or "-",
            str(r["last_event_number"]),
            r["last_heartbeat_at"] or "-",
        )
    console.print(table)


@subscriptions_app.command("create")
@handles_errors
def subscriptions_create(
    ehr: Annotated[str, typer.Option(help="Registered EHR name (claimbridge ehrs add)")],
    endpoint: Annotated[str, typer.Option(help="Our public notification URL, e.g. https://cb.example/notifications")],
    content: Annotated[str, typer.Option(help="empty | id-only | full-resource")] = "id-only",
    plain: Annotated[bool, typer.Option("--plain", help="Plain R4 criteria instead of backport topics")] = False,
    heartbeat: Annotated[int | None, typer.Option(help="Heartbeat period in seconds (topics only)")] = 3600,
    type_: Annotated[list[str] | None, typer.Option("--type", help="Resource type to subscribe (repeatable)")] = None,
    topic: Annotated[list[str] | None, typer.Option(help="Topic to use: URL or TYPE=URL (repeatable)")] = None,
    filter_: Annotated[
        list[str] | None, typer.Option("--filter", help="filterBy, e.g. Encounter.patient=Patient/1 (repeatable)")
    ] = None,
    timeout: Annotated[int | None, typer.Option(min=1, help="Seconds the EHR waits for our answer")] = None,
    max_count: Annotated[int | None, typer.Option("--max-count", min=1, help="Events per notification")] = None,
    end: Annotated[str | None, typer.Option(help="When the EHR turns them off (ISO 8601 with a zone)")] = None,
) -> None:
    """Create Subscriptions (Encounter, Coverage, ServiceRequest, MedicationRequest, + ChargeItem, Procedure).

    All or nothing: every type is checked first, and those created before a failure are deleted again.
    """
    from app.ehr.provision import Options, create_subscriptions

    if content not in ("empty", "id-only", "full-resource"):
        raise CliError(f"--content must be empty, id-only or full-resource, not {content!r}")
    options = Options(tuple(filter_ or ()), timeout, max_count, checked_end(end))
    with services_from_env() as services:  # FHIR and subscription errors: one line (handles_errors)
        created = create_subscriptions(
            services.engine,
            services.gateway,
            ehr=ehr,
            endpoint=endpoint,
            content=content,  # type: ignore[arg-type]
            plain=plain,
            heartbeat=heartbeat,
            now=utcnow(),
            types=type_ or None,
            topics=tuple(topic or ()),
            options=options,
        )
        with services.engine.begin() as conn:  # after the EHR accepted them (the creation is all or nothing)
            for sub in created:
                audit_config_change(
                    conn,
                    entity=f"subscription/{sub.id}",
                    detail={"created": True, "ehr": ehr, "resource_type": sub.resource_type, "content": sub.content},
                )
    if created and created[0].plain:
        why = "--plain" if plain else f"EHR {ehr} is registered with --plain"
        typer.echo(f"plain R4 criteria, not topics ({why})")
    for sub in created:
        typer.echo(f"created Subscription/{sub.id} ({sub.resource_type}, {sub.content}, {sub.criteria}): {sub.status}")


def checked_end(value: str | None) -> str | None:
    """``--end`` as an R4 instant: ISO 8601 with a time zone, else a one-line error."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CliError(f"--end {value!r} is not an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        raise CliError(f"--end {value!r} needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    return parsed.isoformat().replace("+00:00", "Z")


@dlq_app.command("list")
@handles_errors
def dlq_list(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List dead letters with their input reference and the reason they failed."""
    with services_from_env() as services, read_only(services.engine) as conn:
        rows = [{**asdict(d), "failed_at": iso(d.failed_at)} for d in queue_repo.list_dead(conn)]
    if json:
        print_json(rows)
        return
    table = Table("job", "inbox", "subscription", "focus", "event", "attempts", "reason")
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["inbox_id"]),
            r["subscription_id"],
            r["focus"] or "-",
            str(r["event_number"] or "-"),
            str(r["attempts"]),
            (r["reason"] or "")[:80],
        )
    console.print(table if rows else "no dead letters")


@dlq_app.command("replay")
@handles_errors
def dlq_replay(
    job_id: Annotated[int | None, typer.Argument(help="Dead letter (job) id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter")] = False,
) -> None:
    """Put dead letters back in the queue (after fixing what made them fail)."""
    if (job_id is None) == (not all_):
        raise CliError("give a dead-letter ID or --all (not both)")
    with services_from_env() as services, services.engine.begin() as conn:
        n = queue_repo.replay(conn, job_ids=None if all_ else [job_id or 0], now=utcnow())
        if n or all_:
            who = os.environ.get("USER") or "cli"
            entity = "dead-letters/all" if all_ else f"job/{job_id}"
            audit_repo.record(
                conn, actor=who, actor_kind="cli", action="replay", entity=entity, now=utcnow(), detail={"replayed": n}
            )
    if n == 0 and not all_:
        raise CliError(f"no dead letter {job_id}")
    typer.echo(f"replayed {n} dead letter(s)")


@claims_app.command("list")
@handles_errors
def claims_list(
    json: Annotated[bool, typer.Option("--json")] = False,
    status: Annotated[str | None, typer.Option(help="held | ready | submitted ...")] = None,
    payer: Annotated[str | None, typer.Option(help="payer id")] = None,
) -> None:
    """List stored claims (current versions) with their findings."""
    with services_from_env() as services, read_only(services.engine) as conn:
        rows = claims_repo.list_claims(conn, status=status, payer=payer, limit=1_000_000)
    if json:
        print_json(rows)
        return
    table = Table("claim", "encounter", "payer", "status", "v", "errors", "warnings", "total")
    for r in rows:
        sev = [f["severity"] for f in r["findings"]]
        total = (r["claim"].get("total") or {}).get("value")
        table.add_row(
            r["id"],
            r["encounter"],
            r["payer"] or "-",
            r["status"],
            str(r["version"]),
            str(sev.count("error")),
            str(sev.count("warning")),
            f"{total}" if total is not None else "-",
        )
    console.print(table)


@db_app.command("upgrade")
@handles_errors
def db_upgrade() -> None:
    """Apply database migrations up to the current head."""
    with services_from_env():
        pass
    typer.echo("database schema is current")
