"""``claimbridge eligibility check``: verify one Coverage of the stored mirror with its payer, now."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import CliError, handles_errors, print_json, services_from_env
from app.domain.eligibility import EligibilityResult
from app.domain.tenancy import DEFAULT_EHR

eligibility_app = typer.Typer(help="Real-time eligibility (FHIR CoverageEligibilityRequest or X12 270/271).")


def _coverage_key(value: str) -> str:
    key = value if value.startswith("Coverage/") else f"Coverage/{value}"
    if key.count("/") != 1 or not key.split("/", 1)[1]:
        raise CliError(f"--coverage must be Coverage/ID, not {value!r}")
    return key


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"--date must be YYYY-MM-DD, not {value!r}") from None


def print_result(check_id: int, result: EligibilityResult) -> None:
    typer.echo(f"check {check_id}: {result.coverage} with {result.payer_id} for {result.service_date}: {result.status}")
    if result.outcome:
        typer.echo(f"  payer says: {result.outcome}")
    if result.reason:
        typer.echo(f"  reason: {result.reason}")
    if result.benefit_period:
        typer.echo(f"  benefit period: {result.benefit_period[0] or 'open'} to {result.benefit_period[1] or 'open'}")
    for err in result.errors:
        typer.echo(f"  error {err.code}: {err.text}. Fix: {err.fix}")
    for ben in result.benefits:
        what = (
            f"{ben.percent:.0%}"
            if ben.percent is not None
            else (f"{ben.amount:.2f}" if ben.amount is not None else "-")
        )
        typer.echo(f"  {ben.kind} {ben.service_type or ''} {ben.network or ''} {what}".rstrip())
    if result.other_payer:
        typer.echo(f"  other payer: {result.other_payer}")
    if result.authorization_required:
        typer.echo(f"  authorization required: {', '.join(result.authorization_required)}")


@eligibility_app.command("check")
@handles_errors
def check_command(
    coverage: Annotated[str, typer.Option("--coverage", help="Coverage/ID in the stored mirror")],
    day: Annotated[str | None, typer.Option("--date", help="date of service YYYY-MM-DD (default today)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the stored result as JSON")] = False,
    ehr: Annotated[
        str, typer.Option("--ehr", help="the EHR whose mirror holds the coverage (identity is per EHR)")
    ] = DEFAULT_EHR,
    config_dir: Annotated[Path | None, typer.Option("--config-dir")] = None,
) -> None:
    """Run one eligibility check now and print the result (stored as a ``manual`` check)."""
    from app.eligibility.duty import check_now
    from app.services import eligibility_duty

    key, service_date = _coverage_key(coverage), _day(day)
    with services_from_env(config_dir) as services:
        duty = eligibility_duty(services)
        check_id, result = check_now(duty, coverage=key, service_date=service_date or services.clock().date(), ehr=ehr)
    if as_json:
        print_json({"check": check_id, **result.to_dict()})
    else:
        print_result(check_id, result)
