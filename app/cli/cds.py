"""``claimbridge cds call`` (a CDS Hooks request evaluated offline) and ``claimbridge cds-clients``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.common import CliError, audit_config_change, get_settings, handles_errors, print_json, services_from_env

cds_app = typer.Typer(help="CDS Hooks (Da Vinci CRD) service, offline.", no_args_is_help=True)
clients_app = typer.Typer(help="CDS clients (EHRs calling /cds-services) and their JWT keys.", no_args_is_help=True)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except (OSError, UnicodeError, json.JSONDecodeError) as exc:
        raise CliError(f"{path}: not a {what} ({type(exc).__name__})") from None


@cds_app.command("call")
@handles_errors
def cds_call(
    request: Annotated[Path, typer.Argument(help="CDS Hooks request JSON (prefetch taken from it)")],
    service: Annotated[str | None, typer.Option("--service", help="Service id (default: from the hook)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Configuration directory")] = None,
) -> None:
    """Evaluate a CDS Hooks request offline and print the CDS response JSON."""
    from app.cds.request import CdsInputError
    from app.cds.service import CdsRunner
    from app.config.loader import load_config

    body = _read_json(request, "JSON file")
    settings = get_settings(config)
    refdata = [settings.refdata_dir] if settings.refdata_dir.is_dir() else []
    runner = CdsRunner.for_config(load_config(settings.config_dir, refdata_dirs=refdata), today=date.today)
    try:
        print_json(runner.call(service, body))
    except CdsInputError as exc:
        raise CliError(f"{request}: {exc}") from None


@clients_app.command("add")
@handles_errors
def clients_add(
    iss: Annotated[str, typer.Option("--iss", help="The client's JWT issuer (iss)")],
    jwks_url: Annotated[str | None, typer.Option("--jwks-url", help="URL of the client's JWKS")] = None,
    jwks: Annotated[Path | None, typer.Option("--jwks", help="File holding the client's public JWKS")] = None,
    jku: Annotated[list[str] | None, typer.Option("--jku", help="Other JWKS URL a jku header may name")] = None,
) -> None:
    """Register a CDS client: its issuer and its keys (a JWKS URL or a JWKS file)."""
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    from app.db import cds_repo
    from app.db.sql import utcnow

    if (jwks_url is None) == (jwks is None):
        raise CliError("give exactly one of --jwks-url or --jwks")
    for url in (jwks_url, *(jku or ())):
        if url is not None and not url.startswith(("https://", "http://")):
            raise CliError(f"{url!r} is not an http(s) URL")
    keys = _read_json(jwks, "JWKS") if jwks else None
    if keys is not None:
        try:
            KeySet.import_key_set(keys)
        except (JoseError, ValueError, TypeError, KeyError):
            raise CliError(f"{jwks}: not a JWKS") from None
        if any("d" in k for k in keys.get("keys", [])):
            raise CliError(f"{jwks}: holds a private key; register the public JWKS only")
    record = cds_repo.ClientRecord(iss=iss, jwks=keys, jwks_url=jwks_url, jku_allowlist=tuple(jku or ()))
    with services_from_env() as services, services.engine.begin() as conn:
        cds_repo.add_client(conn, record, now=utcnow())
        audit_config_change(
            conn,
            entity=f"cds-client/{iss}",
            detail={"jwks_url": jwks_url, "jwks_file": bool(jwks), "jku": list(jku or ())},
        )
    typer.echo(f"registered CDS client {iss} ({'JWKS at ' + jwks_url if jwks_url else 'JWKS from ' + str(jwks)})")


@clients_app.command("list")
@handles_errors
def clients_list() -> None:
    """Registered CDS clients."""
    from app.db import cds_repo

    with services_from_env() as services, services.engine.connect() as conn:
        clients = cds_repo.list_clients(conn)
    for c in clients:
        typer.echo(f"{c.iss}\t{c.jwks_url or 'registered JWKS'}\tjku: {', '.join(c.jku_allowlist) or '-'}")
