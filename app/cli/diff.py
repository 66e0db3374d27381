"""``claimbridge diff --config OTHER_DIR``: what a candidate configuration would change, read-only.

Every stored, non-history Encounter of the resource mirror is replayed through the candidate
configuration exactly as the worker would process it now (:mod:`app.whatif_replay`, shared with the
console's config page), and the result is compared with the current stored claim versions
(:mod:`app.whatif`). The same encounters are also replayed through the
current configuration (``--baseline``, default the configured ``config_dir``): a change that the
current configuration would make too is listed as drift, not blamed on the candidate.

Nothing is ever written: the database is opened without migrating, every transaction is rolled
back, PostgreSQL sessions are read-only, and the replay runs in short batches so a running worker
is not held up. Replays use "now" (or ``--as-of``), so a finding that depends on the date (timely
filing) may differ from when the claim was stored: that shows as drift.

Exit 0 when the comparison ran (whatever it found), 2 with one line on bad input (missing or
invalid configuration, a database that does not exist or is not migrated).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from app.cli.common import CliError, get_settings, handles_errors, print_json
from app.config.loader import load_config
from app.db import migrate
from app.db.engine import is_sqlite, make_engine, normalise_url
from app.whatif import ClaimDiff, DiffReport
from app.whatif_replay import replay


def run_diff(*, candidate_dir: Path, baseline_dir: Path | None, as_json: bool, as_of: date | None) -> DiffReport:
    """Load both configs, replay the stored encounters through them, print the comparison."""
    settings = get_settings()
    refdata = [settings.refdata_dir] if settings.refdata_dir.is_dir() else []
    config = load_config(candidate_dir, refdata_dirs=refdata)
    baseline = load_config(baseline_dir or settings.config_dir, refdata_dirs=refdata)
    engine = open_read_only(settings.database_url)
    try:
        report = replay(engine, config=config, baseline=baseline, now=datetime.now(UTC), as_of=as_of)
    finally:
        engine.dispose()
    if as_json:
        header = {
            "config": str(candidate_dir),
            "config_hash": config.config_hash,
            "baseline": str(baseline.directory),
            "baseline_hash": baseline.config_hash,
        }
        print_json({**header, **report.to_json()})
    else:
        print_report(report, candidate_dir=candidate_dir, baseline_dir=baseline.directory)
    return report


def open_read_only(url: str) -> Engine:
    """An engine on an existing, migrated database (never created nor migrated here)."""
    if is_sqlite(normalise_url(url)):
        database = make_url(url).database
        if not database or database == ":memory:" or not Path(database).is_file():
            raise CliError(f"database not found: {url}")
    engine = make_engine(url, pool_size=1)
    try:
        current = migrate.is_current(engine)
    except Exception as exc:  # unreachable server, bad credentials: one line, no traceback
        engine.dispose()
        raise CliError(f"cannot open the database: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if not current:
        engine.dispose()
        raise CliError("the database is not migrated to the current schema: run `claimbridge db upgrade` first")
    return engine


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _arrow(before: Any, after: Any) -> str:
    return f"{before or '-'}" if before == after else f"{before or '-'} → {after or '-'}"


def _detail(diff: ClaimDiff) -> list[str]:
    out = [f"+ line {line.code} ×{line.quantity} {_money(line.net)}" for line in diff.lines_added]
    out += [f"- line {line.code} ×{line.quantity} {_money(line.net)}" for line in diff.lines_removed]
    out += [
        f"~ line {b.code}: ×{b.quantity} {_money(b.net)} → ×{a.quantity} {_money(a.net)}" for b, a in diff.lines_changed
    ]
    out += [f"+ finding {rule} at {loc}" for rule, loc in diff.findings_appeared]
    out += [f"- finding {rule} at {loc}" for rule, loc in diff.findings_disappeared]
    out += [f"~ finding {rule} at {loc}: {b} → {a}" for (rule, loc), b, a in diff.severity_changed]
    if diff.other_elements:
        out.append(f"~ also differs: {', '.join(diff.other_elements)}")
    return out


def print_report(report: DiffReport, *, candidate_dir: Path, baseline_dir: Path) -> None:
    console = Console(soft_wrap=True, highlight=False)
    console.print(
        f"[bold]what-if[/bold] {escape(str(candidate_dir))} (against {escape(str(baseline_dir))}): "
        f"{report.encounters} encounter(s) replayed, {report.count('changed')} claim(s) would change, "
        f"{report.count('added')} appear, {report.count('removed')} disappear, {report.unchanged} unchanged"
    )
    _print_diffs(console, report.diffs)
    if report.drift:
        console.print(
            f"[bold]drift[/bold]: {len(report.drift)} claim(s) would change on re-processing with the current "
            "configuration too (date, newer claims of the patient, EHR edits), not because of the candidate:"
        )
        _print_diffs(console, report.drift)


def _print_diffs(console: Console, diffs: list[ClaimDiff]) -> None:
    colour = {"changed": "yellow", "added": "green", "removed": "red"}
    for diff in diffs:
        b, a = diff.before, diff.after
        console.print(
            f"[bold]{diff.claim_id}[/bold] {diff.encounter} [{colour[diff.kind]}]{diff.kind}[/{colour[diff.kind]}]"
            f"  payer {escape(_arrow(b.payer if b else None, a.payer if a else None))}"
            f"  total {_arrow(_money(b.total) if b else None, _money(a.total) if a else None)}"
            f"  status {_arrow(b.status if b else None, a.status if a else None)}"
        )
        for line in _detail(diff):
            console.print(f"    {line}", markup=False)


@handles_errors
def diff_command(
    config: Annotated[Path, typer.Option("--config", help="Candidate configuration directory to try")],
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Current configuration (default: the configured config_dir)")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON")] = False,
    as_of: Annotated[
        datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Date to replay as of (default today)")
    ] = None,
) -> None:
    """What-if: replay the stored encounters through another configuration and show what would change."""
    run_diff(candidate_dir=config, baseline_dir=baseline, as_json=json, as_of=as_of.date() if as_of else None)
