"""``claimbridge refdata``: load the public CMS files an operator supplies into ``refdata_dir``.

Each loader normalizes one CMS file (NCCI PTP practitioner edits, MUE practitioner table, HCPCS
ANWEB, PFS global days) into a compact, dated table that the rules read by date of service; the
synthetic tables under ``config/refdata/`` stay for tests and the demo. A bad file is refused with
the file and line, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import CliError, get_settings, handles_errors
from app.refdata import import_global_days, import_hcpcs, import_mue, import_ptp

refdata_app = typer.Typer(help="Reference data (NCCI, MUE, HCPCS, global days) from CMS files.", no_args_is_help=True)


class Kind(StrEnum):
    NCCI_PTP = "ncci-ptp"
    MUE = "mue"
    HCPCS = "hcpcs"
    GLOBAL_DAYS = "global-days"


IMPORTERS: dict[Kind, Callable[[Path, Path], Path]] = {
    Kind.NCCI_PTP: import_ptp,
    Kind.HCPCS: import_hcpcs,
    Kind.GLOBAL_DAYS: import_global_days,
}


@refdata_app.command("load")
@handles_errors
def load(
    kind: Annotated[Kind, typer.Argument(help="ncci-ptp | mue | hcpcs | global-days")],
    file: Annotated[Path, typer.Argument(help="The CMS file (tab- or comma-separated text)")],
    effective: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="MUE only: first day the table applies")
    ] = None,
) -> None:
    """Normalize a CMS file into the reference-data directory (``refdata_dir``)."""
    if not file.is_file():
        raise CliError(f"{file}: no such file")
    dest = get_settings().refdata_dir
    dest.mkdir(parents=True, exist_ok=True)
    if kind is Kind.MUE:
        written = import_mue(file, dest, effective=effective.date() if effective else None)
    else:
        if effective is not None:
            raise CliError("--effective applies to mue only (PTP and HCPCS files carry their own dates)")
        written = IMPORTERS[kind](file, dest)
    typer.echo(f"loaded {kind.value} from {file.name} into {written}")


@refdata_app.command("icd10-release")
@handles_errors
def icd10_release(
    codes: Annotated[Path, typer.Argument(help="The release's code list (one code or range a line, as the package's)")],
    tabular: Annotated[Path, typer.Argument(help="The CMS tabular XML of the release (icd10cm-tabular-<year>.xml)")],
    fiscal_year: Annotated[int, typer.Option("--fiscal-year", min=2016, max=2100, help="e.g. 2027 for Oct 1 2026")],
) -> None:
    """Build the ICD-10-CM table of one fiscal year (icd10cm-fy<YEAR>.tsv) in ``refdata_dir``."""
    for path in (codes, tabular):
        if not path.is_file():
            raise CliError(f"{path}: no such file")
    from app.refdata.icd10_releases import build_release  # imports simple-icd-10-cm (2 s)

    try:
        written = build_release(codes, tabular, year=fiscal_year, out_dir=get_settings().refdata_dir)
    except (ValueError, KeyError, SyntaxError) as exc:
        raise CliError(f"{tabular.name}: not a readable ICD-10-CM release ({exc})") from None
    typer.echo(f"built ICD-10-CM FY{fiscal_year} into {written}")


@refdata_app.command("list")
@handles_errors
def list_tables() -> None:
    """The reference tables the rules will read (operator-loaded, then shipped synthetic ones)."""
    settings = get_settings()
    for folder in (settings.refdata_dir, settings.config_dir / "refdata"):
        for path in sorted(folder.glob("*.csv")) if folder.is_dir() else ():
            typer.echo(str(path))
