"""``claimbridge payments import FILE.csv``: post patient payments from a CSV (no 835 involved).

The format is in :mod:`app.billing.patient_payments`. Importing the same file again posts nothing
new (receipt references, or the row itself, are idempotency keys). Exit 0 when every row was
imported or already on file, 2 with one line when the file cannot be read or a row is bad (the
good rows are still imported; the bad ones are listed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.billing.patient_payments import PaymentFormatError, parse_csv
from app.cli.common import CliError, handles_errors, print_json, services_from_env
from app.db import ledger_repo

payments_app = typer.Typer(help="Patient payments outside the 835.", no_args_is_help=True)


@payments_app.command("import")
@handles_errors
def payments_import(
    path: Annotated[Path, typer.Argument(help="CSV: claim,amount,received_on[,method][,reference]")],
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Post the patient payments of a CSV file to their claims."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    try:
        rows, errors = parse_csv(text)
    except PaymentFormatError as exc:
        raise CliError(f"{path}: {exc}") from None
    with services_from_env() as services, services.engine.begin() as conn:
        result = ledger_repo.import_patient_payments(conn, rows, now=services.clock())
    problems = sorted([*result["errors"], *({"line": e.line, "message": e.message} for e in errors)],
                      key=lambda e: int(e["line"]))  # fmt: skip
    result["errors"] = problems
    if json:
        print_json(result)
    else:
        typer.echo(f"{result['imported']} imported, {result['duplicates']} already on file, {len(problems)} bad")
    if problems:
        first = problems[0]
        raise CliError(f"{path}:{first['line']}: {first['message']} ({len(problems)} bad row(s) not imported)")
