"""``claimbridge pa submit|status --order ServiceRequest/ID``: Da Vinci PAS prior authorization for operators."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import CliError, handles_errors, print_json, services_from_env
from app.domain.tenancy import DEFAULT_EHR

pa_app = typer.Typer(help="Prior authorization (Da Vinci PAS) of orders.", no_args_is_help=True)
Order = Annotated[str, typer.Option("--order", help="The order, e.g. ServiceRequest/123")]
Ehr = Annotated[str, typer.Option("--ehr", help="The order's EHR (a subscription's --ehr; default: default)")]


def _checked(order: str) -> str:
    kind, _, ident = order.partition("/")
    if kind not in ("ServiceRequest", "MedicationRequest", "DeviceRequest") or not ident:
        raise CliError(f"--order must be ServiceRequest/ID, MedicationRequest/ID or DeviceRequest/ID, not {order!r}")
    return order


@pa_app.command("submit")
@handles_errors
def pa_submit(order: Order, ehr: Ehr = DEFAULT_EHR) -> None:
    """Build, check and queue the PAS request (Claim/$submit to the payer's prior_auth_endpoint)."""
    from app.priorauth.alerts import rules_for
    from app.priorauth.submit import submit_order

    ref = _checked(order)
    with services_from_env() as services, services.engine.begin() as conn:
        alert = submit_order(conn, ref, rules_for(services.config), now=services.clock(), ehr=ehr)
    typer.echo(f"{ref}: PAS request {alert.pas_identifier} queued for {alert.payer_name} ({', '.join(alert.codes)})")


@pa_app.command("status")
@handles_errors
def pa_status(order: Order, ehr: Ehr = DEFAULT_EHR) -> None:
    """The order's prior-authorization alert: state, payer, number or reason (JSON)."""
    from app.db import priorauth_repo
    from app.db.engine import read_only

    ref = _checked(order)
    with services_from_env() as services, read_only(services.engine) as conn:
        alert = priorauth_repo.get_alert(conn, ref, ehr=ehr)
    if alert is None:
        raise CliError(f"{ref} has no prior-authorization alert")
    print_json(alert.view())
