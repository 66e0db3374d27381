"""``claimbridge x12 build|read|submit|ingest``: 837P files out, 999 / 277CA / 835 in.

``build`` runs the same mapping and rules as ``claimbridge check``, writes one streamed 837P of the
claims without ``error`` findings (earliest timely-filing deadline first) and lists the claims it
left out with the reasons. Identities come from ``config/clearinghouse.yaml``; the interchange
control number comes from the state file named there (or ``--state``). Exit 0 when it ran, 2 with
one line when the input, the configuration or the state file cannot be used.

``read`` prints a summary (or ``--json``) of an inbound file, including everything the reader could
not understand. Exit 0 when something was read, 2 when nothing readable was found.

``submit`` and ``ingest`` work on the service's database (settings as for ``serve``): ``submit`` runs
the worker's batch submitter now (the ready claims → one 837P, recorded, queued and, unless
``--no-deliver``, delivered at once); ``ingest FILE...`` stores and applies response files exactly
as the worker's inbox poller does (the same file twice changes nothing). Both exit 0 when they ran.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from app.adapters.registry import build_adapters
from app.billing.control_file import ControlNumberError, FileControlNumbers
from app.billing.submission import LeftOut, SubmissionPlan, plan_submission, refused_by_writer
from app.billing.summary import summarize_x12
from app.cli.check import read_bundle
from app.cli.common import CliError, get_settings, handles_errors, print_json, services_from_env
from app.config.clearinghouse import load_clearinghouse
from app.config.loader import load_config
from app.db.outbox_repo import Delivery
from app.domain.context import build_contexts
from app.evaluate import check_resources
from app.retry import RetryPolicy
from app.worker.outbox import OutboxDispatcher
from app.x12 import WriteSummary, read_x12, write_837p

x12_app = typer.Typer(
    help="X12 files: build or submit 837Ps; read or ingest 999, 277CA and 835 responses.", no_args_is_help=True
)


@dataclass(frozen=True)
class BuildResult:
    plan: SubmissionPlan
    summary: WriteSummary
    left_out: tuple[LeftOut, ...]
    out: Path


def _write(plan: SubmissionPlan, out: Path, *, config_dir: Path, state_file: Path | None) -> WriteSummary:
    clearing = load_clearinghouse(config_dir)
    numbers = FileControlNumbers(state_file or clearing.state_file)
    envelope = clearing.envelope(created=datetime.now().astimezone(), control_numbers=numbers)
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as stream:
            summary = write_837p((r.claim_input for r in plan.ready), stream, envelope=envelope, on_error="skip")
        if summary.claim_count:
            os.replace(partial, out)
        else:
            partial.unlink()
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"{out}: cannot write: {exc.strerror or exc}") from exc
    except ControlNumberError as exc:
        partial.unlink(missing_ok=True)
        raise CliError(str(exc)) from exc
    return summary


def run_build(
    bundle: Path, *, out: Path, config_dir: Path, refdata_dir: Path, today: date, state_file: Path | None = None
) -> BuildResult:
    """Check the Bundle's encounters and write the clean claims to ``out`` (nothing when none is clean)."""
    resources = read_bundle(bundle)
    config = load_config(config_dir, refdata_dirs=[refdata_dir] if refdata_dir.is_dir() else [])
    load_clearinghouse(config_dir)  # fail on a bad clearinghouse file before any work
    report = check_resources(resources, config=config, today=today, now=datetime.now(UTC))
    contexts = {ctx.key: ctx for ctx in build_contexts(resources)}
    plan = plan_submission(report, contexts, payers=config.payers)
    summary = _write(plan, out, config_dir=config_dir, state_file=state_file)
    return BuildResult(plan, summary, plan.left_out + refused_by_writer(plan, summary), out)


def print_build(result: BuildResult) -> None:
    s = result.summary
    refused = {r.claim_id for r in result.left_out if r.stage == "x12"}
    if s.claim_count:
        typer.echo(
            f"wrote {s.claim_count} claim(s), {s.line_count} line(s), total {s.total_charge} to {result.out} "
            f"(ISA13 {s.interchange_control_number}, {len(s.transactions)} transaction(s))"
        )
        for ready in result.plan.ready:
            ev = ready.evaluation
            if ev.claim_id not in refused:
                deadline = ready.deadline.isoformat() if ready.deadline else "-"
                typer.echo(f"  {ev.claim_id}  CLM01 {ready.claim_input.claim_id}  file by {deadline}  {ev.encounter}")
    else:
        typer.echo(f"no claim is ready to submit; {result.out} was not written")
    if not result.left_out:
        return
    typer.echo(f"left out {len(result.left_out)} claim(s):")
    for item in result.left_out:
        typer.echo(f"  {item.claim_id}  {item.encounter or '-'}  payer {item.payer_id or '-'}  ({item.stage})")
        for reason in item.reasons:
            typer.echo(f"    - {reason}")


@x12_app.command("build")
@handles_errors
def build_command(
    bundle: Annotated[Path, typer.Argument(help="FHIR Bundle (collection, transaction or searchset)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="837P file to write")],
    config: Annotated[Path | None, typer.Option("--config", help="Configuration directory (default: config/)")] = None,
    as_of: Annotated[datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Date to check as of")] = None,
    state: Annotated[
        Path | None, typer.Option("--state", help="Control-number state file (default: from config)")
    ] = None,
) -> None:
    """Map and check a Bundle's encounters and write the clean claims as one 837P."""
    settings = get_settings(config)
    today = as_of.date() if as_of else date.today()
    result = run_build(
        bundle, out=out, config_dir=settings.config_dir, refdata_dir=settings.refdata_dir, today=today, state_file=state
    )
    print_build(result)


def read_text(path: Path) -> str:
    """The file as text (UTF-8, else Latin-1: X12's extended character set); one-line error if unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _print_999(s: dict[str, Any]) -> None:
    typer.echo(f"999 acknowledgement: {s['accepted']} transaction(s) accepted, {s['rejected']} rejected")
    for t in s["transactions"]:
        state = "accepted" if t["accepted"] else "REJECTED"
        typer.echo(f"  ST {t['set_id']} {t['control_number']} (GS {t['group_control_number']}): {t['status']} {state}")
        for e in t["segment_errors"]:
            elements = ", ".join(f"element {x['position']} code {x['code']}" for x in e["elements"])
            typer.echo(f"    segment {e['segment_id']} at {e['position']}: code {e['code']} {elements}".rstrip())


def _print_277(s: dict[str, Any]) -> None:
    typer.echo(f"277CA claim acknowledgement: {s['accepted']} claim(s) accepted, {s['rejected']} rejected")
    for c in s["claims"]:
        codes = ", ".join(f"{x['category']}:{x['code']}:{x['entity']}".rstrip(":") for x in c["statuses"])
        icn = c["payer_claim_control_number"] or "-"
        typer.echo(f"  claim {c['patient_control_number'] or '?'}  {c['disposition']}  ({codes})  payer ICN {icn}")


def _adjustment_label(adjustment: dict[str, Any]) -> str:
    if adjustment["category"]:
        return str(adjustment["category"])
    return "uncategorised" if adjustment["denial_reason"] else "contractual or cost-share"


def _adjustment_text(adjustments: list[dict[str, Any]]) -> str:
    return ", ".join(f"{a['group']}-{a['reason']} {a['amount']} [{_adjustment_label(a)}]" for a in adjustments)


def _print_835(s: dict[str, Any]) -> None:
    typer.echo(f"835 remittance: {s['claims']} claim(s), {s['denied']} with denials")
    for t in s["transactions"]:
        pay = t["payment"]
        typer.echo(f"  payer {t['payer']['name'] or '-'}  paid {pay['amount']} {pay['method']} {pay['date'] or ''}")
        for c in t["claims"]:
            denial = c["denial"]
            flag = f"  DENIED {','.join(denial['categories'])} {denial['amount']}" if denial["denied"] else ""
            typer.echo(
                f"    claim {c['patient_control_number']}  status {c['status']}  charge {c['charge']}  "
                f"paid {c['paid']}{flag}"
            )
            if c["adjustments"]:
                typer.echo(f"      claim adjustments: {_adjustment_text(c['adjustments'])}")
            for ln in c["lines"]:
                adj = f"  {_adjustment_text(ln['adjustments'])}" if ln["adjustments"] else ""
                typer.echo(f"      {ln['procedure']}  charge {ln['charge']}  paid {ln['paid']}{adj}")


def print_summary(s: dict[str, Any]) -> None:
    printers = {"999": _print_999, "277CA": _print_277, "835": _print_835}
    printer = printers.get(s["kind"])
    if printer is None:
        typer.echo(f"transaction set {s['set_id'] or '(none found)'} {s['implementation']}: not read by claimbridge")
    else:
        printer(s)
    if s["problems"]:
        typer.echo(f"{len(s['problems'])} problem(s) not understood:")
        for p in s["problems"]:
            typer.echo(f"  segment {p['segment']} {p['segment_id']}: {p['message']}")


@x12_app.command("read")
@handles_errors
def read_command(
    file: Annotated[Path, typer.Argument(help="A 999, 277CA (005010X214) or 835 file")],
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Summarise an inbound X12 file: acknowledgements, claim statuses, remittances and denials."""
    summary = summarize_x12(read_x12(read_text(file)))
    if json:
        print_json(summary)
    else:
        print_summary(summary)
    if not summary["readable"]:
        raise CliError(f"{file}: nothing readable as a 999, 277CA or 835")


def deliver_now(services: Any, delivery: Delivery) -> str:
    """Deliver the batch's outbox row through the clearinghouse adapter (the worker retries a failure)."""
    adapter = build_adapters(services.settings)["clearinghouse"]
    settings = services.settings.outbox
    dispatcher = OutboxDispatcher(
        engine=services.engine,
        adapters={delivery.destination: adapter},
        policy=RetryPolicy(settings.max_attempts, 1.0, settings.backoff_cap_seconds),
        metrics=services.metrics,
        clock=services.clock,
        settings=settings,
    )
    dispatcher.deliver(delivery)
    return dispatcher.last_result


@x12_app.command("submit")
@handles_errors
def submit_command(
    config: Annotated[Path | None, typer.Option("--config", help="Configuration directory (default: config/)")] = None,
    deliver: Annotated[bool, typer.Option("--deliver/--no-deliver", help="Deliver the file now")] = True,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Submit the ready claims now: one 837P, earliest filing deadline first."""
    with services_from_env(config) as services:
        result = services.submitter().submit()
        delivered = deliver_now(services, result.delivery) if deliver and result.delivery else "queued"
    out = {
        "batch": result.batch_id,
        "interchange_control_number": result.interchange_control_number,
        "file_name": result.file_name,
        "delivery": delivered if result.delivery else None,
        "submitted": [{"claim": c, "patient_control_number": p} for c, p in result.submitted],
        "held": [{"claim": c, "reasons": list(r)} for c, r in result.held],
    }
    if json:
        print_json(out)
        return
    if result.batch_id is None:
        typer.echo("no claim is ready to submit")
    else:
        typer.echo(
            f"batch {result.batch_id}: {len(result.submitted)} claim(s) in {result.file_name} "
            f"(ISA13 {result.interchange_control_number}), {delivered}"
        )
        for claim, pcn in result.submitted:
            typer.echo(f"  {claim}  CLM01 {pcn}")
    for claim, reasons in result.held:
        typer.echo(f"held {claim}: " + "; ".join(reasons))


@x12_app.command("ingest")
@handles_errors
def ingest_command(
    files: Annotated[list[Path], typer.Argument(help="999, 277CA or 835 files")],
    config: Annotated[Path | None, typer.Option("--config", help="Configuration directory (default: config/)")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the results as JSON")] = False,
) -> None:
    """Store and apply response files: claim statuses, ClaimResponses, payments, denials, underpayments."""
    contents = [(f.name, read_bytes(f)) for f in files]
    with services_from_env(config) as services:
        ingester = services.ingester()
        results = [ingester.ingest(raw, name=name, source="cli") for name, raw in contents]
    rows = [
        {
            "file": name,
            "file_id": r.file_id,
            "kind": r.kind,
            "duplicate": r.duplicate,
            "matched": r.matched,
            "unmatched": r.unmatched,
            "parse_issues": r.parse_issues,
        }
        for (name, _), r in zip(contents, results, strict=True)
    ]
    if json:
        print_json(rows)
        return
    for row in rows:
        state = "already ingested, nothing changed" if row["duplicate"] else f"{row['matched']} claim answer(s)"
        typer.echo(
            f"{row['file']}: {row['kind']}, {state}, {len(row['unmatched'])} unmatched, "
            f"{row['parse_issues']} parse issue(s)"
        )
        for item in row["unmatched"]:
            typer.echo("  unmatched " + " ".join(f"{k}={v}" for k, v in item.items()))


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from exc
