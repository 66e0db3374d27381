"""EHR commands: ``ehrs add|list`` (the EHR registry) and ``keys generate`` (SMART backend keys)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import httpx
import typer
from rich.console import Console
from rich.table import Table

from app.cli.common import CliError, get_settings, handles_errors, print_json, services_from_env
from app.db import audit_repo, ehr_repo, web_repo
from app.db.ehr_repo import EhrRecord
from app.db.engine import read_only
from app.db.sql import utcnow
from app.ehr.discovery import NO_CAPABILITIES, Capabilities, discover, learn_topics
from app.fhir.errors import FhirError
from app.fhir.keys import ALGORITHMS, KeyFileError, generate_keys, load_signing_key
from app.ssrf import UrlRefused, outbound_policy

ehrs_app = typer.Typer(help="EHRs claimbridge calls (id-only fetch, gap recovery, write-back).", no_args_is_help=True)
MAX_SMART_SECRET = 500  # encrypted it must fit the 1000-character column
keys_app = typer.Typer(help="Signing keys for SMART Backend Services.", no_args_is_help=True)
console = Console()


@ehrs_app.command("add")
@handles_errors
def ehrs_add(
    name: Annotated[str, typer.Option(help="Short name subscriptions refer to")],
    base_url: Annotated[str, typer.Option("--base-url", help="FHIR base URL, e.g. https://ehr.example/fhir")],
    auth: Annotated[str, typer.Option(help="none | smart-backend")] = "none",
    client_id: Annotated[str | None, typer.Option("--client-id", help="SMART backend client id")] = None,
    key: Annotated[Path | None, typer.Option(help="Private key file (PEM or private JWKS)")] = None,
    plain: Annotated[bool, typer.Option("--plain", help="Subscribe with plain R4 criteria, not topics")] = False,
    topic: Annotated[list[str] | None, typer.Option(help="TYPE=URL topic canonical (repeatable)")] = None,
    discover_: Annotated[bool, typer.Option("--discover/--no-discover", help="Read the CapabilityStatement")] = True,
    smart_client_id: Annotated[str | None, typer.Option("--smart-client-id", help="SMART app client id")] = None,
    smart_client_secret: Annotated[
        str | None, typer.Option("--smart-client-secret", help="Confidential SMART app: its secret, or - for stdin")
    ] = None,
    smart_key: Annotated[Path | None, typer.Option("--smart-key", help="SMART app key (private_key_jwt)")] = None,
    smart_scopes: Annotated[str | None, typer.Option("--smart-scopes", help="Scopes the SMART app asks for")] = None,
) -> None:
    """Register an EHR (learns $events support and topics from its CapabilityStatement and topic definitions)."""
    record = checked_record(name, base_url, auth, client_id, key, plain)
    smart = smart_registration(smart_client_id, smart_client_secret, smart_key, smart_scopes)
    try:
        outbound_policy(get_settings()).check_base(base_url, what="--base-url")
    except UrlRefused as exc:
        raise CliError(str(exc)) from None
    named = parse_topics(topic or [])
    caps = discover_capabilities(base_url) if discover_ else NO_CAPABILITIES
    record = EhrRecord(**{**record.__dict__, "supports_events": caps.supports_events, "topics": named})
    with services_from_env() as services:
        with services.engine.begin() as conn:
            new = ehr_repo.add_ehr(conn, record, now=utcnow())
        report = learn_topics(services.gateway, name, caps)
        topics = {**report.topics, **named}
        with services.engine.begin() as conn:
            ehr_repo.set_topics(conn, name, topics)
            if smart is not None:
                web_repo.set_smart_app(
                    conn,
                    ehr=name,
                    client_id=str(smart["client_id"]),
                    client_secret=smart["client_secret"],
                    key_path=smart["key_path"],
                    scopes=smart["scopes"] or services.settings.web.default_scopes,
                    now=utcnow(),
                    keys=services.gateway.secret_keys,
                )
            audit_repo.record(
                conn,
                actor=os.environ.get("USER") or "cli",
                actor_kind="cli",
                action="config-change",
                entity=f"ehr/{name}",
                now=utcnow(),
                detail={"base_url": record.base_url, "smart_client_id": smart["client_id"] if smart else None},
            )
    events = "supports $events" if record.supports_events else "no $events (recovery by search)"
    typer.echo(f"{'added' if new else 'updated'} EHR {name}: {events}, {len(topics)} topic(s)")
    for resource_type, url in sorted(topics.items()):
        typer.echo(f"  {resource_type}: {url}")
    if smart is not None:
        kind = "private_key_jwt" if smart["key_path"] else "confidential" if smart["client_secret"] else "public"
        typer.echo(f"  SMART app: client {smart['client_id']} ({kind}); launch URL /smart/launch")
    left = [url for url in report.unresolved if url not in topics.values()]
    if left:
        why = f" ({report.problem})" if report.problem else ""
        typer.echo(f"advertised topics of unknown type{why}: {', '.join(left)}; name them with --topic TYPE=URL")


def checked_record(
    name: str, base_url: str, auth: str, client_id: str | None, key: Path | None, plain: bool
) -> EhrRecord:
    if auth not in ("none", "smart-backend"):
        raise CliError(f"--auth must be none or smart-backend, not {auth!r}")
    if not base_url.startswith(("https://", "http://")):
        raise CliError("--base-url must be an http(s) URL")
    key_path = None
    if auth == "smart-backend":
        if not client_id or key is None:
            raise CliError("--auth smart-backend needs --client-id and --key")
        try:
            load_signing_key(key)
        except (OSError, KeyFileError) as exc:
            raise CliError(f"--key: {exc}") from exc
        key_path = str(key.resolve())
    return EhrRecord(name, base_url.rstrip("/"), auth, client_id, key_path, False, plain, None)


def smart_registration(
    client_id: str | None, secret: str | None, key: Path | None, scopes: str | None
) -> dict[str, str | None] | None:
    """The SMART app registration from the ``--smart-*`` options (None: none given)."""
    if client_id is None:
        if secret is not None or key is not None or scopes is not None:
            raise CliError("--smart-client-secret, --smart-key and --smart-scopes need --smart-client-id")
        return None
    if secret is not None and key is not None:
        raise CliError("give --smart-client-secret or --smart-key, not both")
    if secret == "-":  # noqa: S105  (read it from stdin, not the command line)
        secret = sys.stdin.readline().strip()
    if secret is not None and not secret:
        raise CliError("--smart-client-secret is empty")
    if secret is not None and len(secret) > MAX_SMART_SECRET:
        raise CliError(f"--smart-client-secret is longer than {MAX_SMART_SECRET} characters")
    key_path = None
    if key is not None:
        try:
            load_signing_key(key)
        except (OSError, KeyFileError) as exc:
            raise CliError(f"--smart-key: {exc}") from exc
        key_path = str(key.resolve())
    if scopes is not None and "openid" not in scopes.split():
        raise CliError("--smart-scopes must include openid (the app verifies who signed in)")
    return {"client_id": client_id, "client_secret": secret, "key_path": key_path, "scopes": scopes}


def discover_capabilities(base_url: str) -> Capabilities:
    async def run() -> Capabilities:
        async with httpx.AsyncClient(timeout=15) as http:
            return await discover(http, base_url)

    try:
        return asyncio.run(run())
    except FhirError as exc:
        raise CliError(f"cannot read {base_url}/metadata: {exc} (use --no-discover to skip)") from exc


def parse_topics(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        resource_type, sep, url = value.partition("=")
        if not sep or not url or not resource_type[:1].isupper() or not resource_type.isalpha():
            raise CliError(f"--topic {value!r} is not TYPE=URL (e.g. Encounter=https://ehr.example/topics/x)")
        out[resource_type] = url
    return out


@ehrs_app.command("list")
@handles_errors
def ehrs_list(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the registered EHRs."""
    with services_from_env() as services, read_only(services.engine) as conn:
        rows = [{**r.__dict__, "degraded": r.degraded} for r in ehr_repo.list_ehrs(conn)]
    if json:
        print_json(rows)
        return
    table = Table("name", "base url", "auth", "client id", "$events", "criteria", "topics", "scopes")
    for r in rows:
        table.add_row(
            r["name"],
            r["base_url"],
            r["auth"],
            r["client_id"] or "-",
            "yes" if r["supports_events"] else "no",
            "plain R4" if r["plain_criteria"] else "topics",
            str(len(r["topics"] or {})),
            scope_state(r["missing_scopes"]),
        )
    console.print(table if rows else "no EHRs registered")


def scope_state(missing: tuple[str, ...] | None) -> str:
    """``ok``, ``degraded: missing ...`` or ``-`` (no token asked for yet)."""
    if missing is None:
        return "-"
    return f"degraded: missing {' '.join(missing)}" if missing else "ok"


@keys_app.command("generate")
@handles_errors
def keys_generate(
    alg: Annotated[str, typer.Option(help="RS384 | ES384")] = "ES384",
    out: Annotated[Path, typer.Option(help="Directory to write the key and the public JWKS")] = Path("var/keys"),
) -> None:
    """Write a private key (0600) and the public JWKS to register with the EHR."""
    if alg not in ALGORITHMS:
        raise CliError(f"--alg must be one of {', '.join(ALGORITHMS)}")
    chosen: Literal["RS384", "ES384"] = "RS384" if alg == "RS384" else "ES384"
    private, jwks = generate_keys(out, chosen)
    kid = load_signing_key(private).kid
    typer.echo(f"private key: {private}\npublic JWKS: {jwks}\nkid: {kid}")
