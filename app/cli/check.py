"""``claimbridge check BUNDLE``: the service's mapping and rules, offline, over one Bundle."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.cli.common import CliError, print_json
from app.config.loader import load_config
from app.domain.context import resources_from_bundle
from app.domain.findings import Finding
from app.domain.outcomes import Outcome
from app.evaluate import CheckReport, Evaluation, check_resources
from app.fhir.r4 import InvalidResource, validate_resource

BUNDLE_TYPES = frozenset({"collection", "transaction", "searchset", "batch", "document", "history"})


def read_bundle(path: Path) -> list[tuple[dict[str, Any], str | None]]:
    """Read and validate (once, at this edge) every resource of a Bundle file."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise CliError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise CliError(f"{path}: not a FHIR Bundle")
    if data.get("type") not in BUNDLE_TYPES:
        raise CliError(f"{path}: Bundle.type {data.get('type')!r} is not collection, transaction or searchset")
    resources = resources_from_bundle(data)
    for i, (resource, _) in enumerate(resources):
        try:
            validate_resource(resource)
        except InvalidResource as exc:
            raise CliError(f"{path}: entry {i} ({resource.get('resourceType')}/{resource.get('id')}): {exc}") from exc
    if not any(r.get("resourceType") == "Encounter" for r, _ in resources):
        raise CliError(f"{path}: the Bundle holds no Encounter to build a claim from")
    return resources


def run_check(bundle: Path, *, config_dir: Path, refdata_dir: Path, as_json: bool, today: date) -> CheckReport:
    resources = read_bundle(bundle)
    config = load_config(config_dir, refdata_dirs=[refdata_dir] if refdata_dir.is_dir() else [])
    report = check_resources(resources, config=config, today=today, now=datetime.now(UTC))
    if as_json:
        print_json(report.to_json())
    else:
        print_report(report)
    return report


def print_report(report: CheckReport) -> None:
    """Each encounter: its claim (total, state, E/M, findings) or the outcome that explains why none."""
    console = Console()
    claims = {ev.encounter: ev for ev in report.evaluations}
    for outcome in report.encounters:
        ev = claims.get(outcome.encounter)
        if ev is not None:
            print_claim(console, ev)
        else:
            console.print(f"[bold]{outcome.encounter}[/bold] → no claim: [yellow]{outcome.outcome.value}[/yellow]")
        if outcome.outcome is not Outcome.CLAIM:
            console.print(f"  outcome {outcome.outcome.value}: {escape(outcome.reason)}")
        findings = [*(ev.findings if ev else ()), *outcome.findings]
        if findings:
            print_findings(console, findings)
        else:
            console.print("  no findings")
    held = sum(1 for ev in report.evaluations if ev.held)
    unbilled = sum(1 for o in report.encounters if o.claim_id is None)
    console.print(
        f"{len(report.evaluations)} claim(s), {held} held, "
        f"{sum(len(ev.findings) for ev in report.evaluations)} finding(s); "
        f"{len(report.encounters)} encounter(s), {unbilled} without a claim"
    )


def print_claim(console: Console, ev: Evaluation) -> None:
    total = (ev.claim.get("total") or {}).get("value")
    state = "[red]HELD[/red]" if ev.held else "[green]ready[/green]"
    console.print(
        f"[bold]{ev.encounter}[/bold] → claim {ev.claim_id}  payer {ev.payer_id or '-'}  "
        f"total {total if total is not None else '-'}  {state}"
    )
    if ev.em:
        console.print(
            f"  E/M: billed {ev.em.get('billed') or '-'}, supported {ev.em.get('code') or '-'} "
            f"(by {ev.em.get('basis') or '-'})"
        )


def print_findings(console: Console, findings: list[Finding]) -> None:
    table = Table("severity", "category", "rule", "message", "fix", show_edge=False, pad_edge=False)
    for f in findings:
        table.add_row(f.severity.value, f.category.value, f.rule, escape(f.message), escape(f.fix))
    console.print(table)
