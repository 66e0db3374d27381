"""``claimbridge``: the FHIR-to-billing bridge (service, worker, offline tools, operations)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from app.cli import cds, ehr, ops, pa, replays

try:  # typer >= 0.20 carries its own copy of click
    from typer._click import exceptions as cli_errors
except ImportError:  # pragma: no cover - older typer on plain click
    from click import exceptions as cli_errors  # type: ignore[no-redef]
from app.cli.check import run_check
from app.cli.common import get_settings, handles_errors, services_from_env
from app.cli.diff import diff_command
from app.cli.eligibility import eligibility_app
from app.cli.payments import payments_app
from app.cli.refdata import refdata_app
from app.cli.users import users_app
from app.cli.x12 import x12_app
from app.cli.x12_quarantine import quarantine_app
from app.config.payers import effective_profile
from app.domain.payers import PayerDirectory
from app.settings import PLACEHOLDER_SECRETS, Settings
from app.worker.duties import DUTY_NAMES, select_duties

app = typer.Typer(name="claimbridge", help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
config_app = typer.Typer(help="Integration engineers' configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(ops.subscriptions_app, name="subscriptions")
app.add_typer(ops.dlq_app, name="dlq")
app.add_typer(replays.inbox_app, name="inbox")
app.add_typer(replays.outbox_app, name="outbox")
app.add_typer(ops.claims_app, name="claims")
app.add_typer(ops.db_app, name="db")
x12_app.add_typer(quarantine_app, name="quarantine")
app.add_typer(x12_app, name="x12")
app.add_typer(refdata_app, name="refdata")
app.add_typer(payments_app, name="payments")
app.add_typer(ehr.ehrs_app, name="ehrs")
app.add_typer(ehr.keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(eligibility_app, name="eligibility")
app.command("diff")(diff_command)
app.add_typer(cds.cds_app, name="cds")
app.add_typer(cds.clients_app, name="cds-clients")
app.add_typer(pa.pa_app, name="pa")

ConfigDir = Annotated[Path | None, typer.Option("--config", help="Configuration directory (default: config/)")]


@app.command()
@handles_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default from settings: 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings: 8000)")] = None,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Run the worker in this process")] = True,
) -> None:
    """Run the HTTP API (and, by default, the worker) in one process."""
    import uvicorn

    from app.api.app import create_app
    from app.heap import settle_heap

    stopping: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):  # uvicorn re-raises the signal after its graceful stop:
        signal.signal(sig, lambda number, _frame: stopping.append(number))  # land here, then close services
    overrides = development_admin_token(get_settings())
    with services_from_env(**overrides) as services:
        api = services.settings.api
        application = create_app(services, run_worker=worker)
        settle_heap()  # start-up is done: its objects are never scanned by the collector again
        uvicorn.run(
            application,
            host=host or api.host,
            port=port or api.port,
            access_log=False,
            log_config=None,
            server_header=False,
        )


def development_admin_token(settings: Settings) -> dict[str, Any]:
    """In development, a placeholder admin token is replaced by a random one, printed once.

    ``dev-admin-token`` never authenticates (:mod:`app.api.security`); production refuses to start
    with it (settings). Set ``CLAIMBRIDGE_API__ADMIN_TOKEN`` to keep a token across restarts.
    """
    if settings.api.admin_token.get_secret_value().strip().lower() not in PLACEHOLDER_SECRETS:
        return {}
    token = secrets.token_urlsafe(32)
    typer.echo(f"claimbridge: development admin token for this run (printed once): {token}", err=True)
    return {"api": {**settings.api.model_dump(), "admin_token": token}}


@app.command("worker")
@handles_errors
def worker_command(
    drain: Annotated[bool, typer.Option("--drain", help="Process what is queued, then exit")] = False,
    duties: Annotated[
        list[str] | None,
        typer.Option("--duties", help=f"Run only these duties (comma-separated or repeated): {', '.join(DUTY_NAMES)}"),
    ] = None,
    no_duties: Annotated[
        list[str] | None, typer.Option("--no-duties", help="Run every duty but these (jobs included unless named)")
    ] = None,
) -> None:
    """Run workers alone (several processes may share one PostgreSQL database; docs: README "Operations")."""
    try:
        chosen = select_duties(duties or (), no_duties or ())
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    from app.heap import settle_heap

    with services_from_env() as services:
        runner = services.worker(duties=chosen)
        settle_heap()  # as in serve: start-up's objects are never scanned by the collector again
        if drain:
            typer.echo(f"processed {runner.drain()} job(s)")
            return
        stop = asyncio.Event()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await runner.run_forever(stop)

        asyncio.run(main())


@app.command()
@handles_errors
def demo(
    exit_when_done: Annotated[bool, typer.Option("--exit-when-done", help="Exit 0 once the queue drains")] = False,
    port: Annotated[int, typer.Option(help="Port to serve on")] = 8000,
    examples: Annotated[Path, typer.Option(help="Folder of sample encounter Bundles")] = Path("examples/bundles"),
) -> None:
    """Start the service on the embedded default and feed it the bundled sample EHR data."""
    from app.cli.demo import run_demo
    from app.logging import configure_logging

    settings = get_settings()
    if "CLAIMBRIDGE_LOG_LEVEL" not in os.environ:  # keep the demo's terminal readable
        configure_logging(level="WARNING", fmt="console")
    run_demo(settings=settings, port=port, examples=examples, exit_when_done=exit_when_done)


@app.command()
@handles_errors
def check(
    bundle: Annotated[Path, typer.Argument(help="FHIR Bundle (collection, transaction or searchset)")],
    json: Annotated[bool, typer.Option("--json", help="Print {claims, findings, alerts} as JSON")] = False,
    config: ConfigDir = None,
    as_of: Annotated[datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Date to check as of")] = None,
) -> None:
    """Map and check the encounters in a Bundle, offline (no network, no database)."""
    settings = get_settings(config)
    today = as_of.date() if as_of else date.today()
    run_check(bundle, config_dir=settings.config_dir, refdata_dir=settings.refdata_dir, as_json=json, today=today)


@config_app.command("check")
@handles_errors
def config_check(
    config: ConfigDir = None,
    payer: Annotated[str | None, typer.Option("--payer", help="Print only this payer id's effective profile")] = None,
) -> None:
    """Validate every configuration file, then print each payer profile as it will be used (defaults filled)."""
    from app.config.loader import load_config

    settings = get_settings(config)
    loaded = load_config(settings.config_dir, refdata_dirs=[settings.refdata_dir])
    typer.echo(
        f"configuration OK: {settings.config_dir} (hash {loaded.config_hash}, "
        f"{len(loaded.payers.profiles)} payer profiles)"
    )
    print_payer_profiles(loaded.payers, only=payer)


def print_payer_profiles(payers: PayerDirectory, *, only: str | None) -> None:
    """Each distinct profile (or the one ``only`` resolves to) as YAML, every default filled in."""
    if only is not None:
        profile = payers.profile_for(only)
        if profile.is_default:
            typer.echo(f"# payer id {only!r} has no profile: the conservative default applies")
        chosen = [profile]
    else:
        chosen = list({p.payer_id: p for p in payers.profiles.values()}.values())
    for profile in chosen:
        typer.echo("---")
        typer.echo(yaml.safe_dump(effective_profile(profile), sort_keys=False, allow_unicode=True).rstrip())


def main() -> None:
    """Every command is wrapped by handles_errors: one line and exit 2 (fatal) or 1 (temporary). A
    usage error (an unknown option, ``dlq replay abc``) is one line and exit 2 too, not a usage box."""
    try:
        code = app(standalone_mode=False, prog_name="claimbridge")
    except cli_errors.NoArgsIsHelpError as exc:  # a command group without a subcommand: its help
        typer.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        sys.exit(2)
    except cli_errors.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "claimbridge"
        typer.echo(f"{command}: {exc.format_message()} (see {command} --help)", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
