"""Eligibility: coverage present and in force on the date of service, fresh verification, COB order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from app.domain.findings import Category, Severity
from app.rules.facts import ClaimFacts
from app.rules.registry import Hit, Params, register
from app.rules.values import key_of, obj, parse_date, ref_key

EL = Category.ELIGIBILITY
ERR, WARN = Severity.ERROR, Severity.WARNING
_VERIFIED = frozenset({"complete", "partial"})
_LIVE = frozenset({"active", None})


@register(
    "eligibility.coverage-missing", category=EL, severity=ERR, carc=("31",),
    summary="The claim's focal insurance points at a Coverage that is on file.",
    fix="Attach the patient's Coverage to the encounter (or register the insurance).",
)  # fmt: skip
def check_coverage_present(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.coverage is None:
        yield Hit("No coverage found for the claim's insurance.", f"{f.insurance_path}.coverage", f.claim_key)


@register(
    "eligibility.coverage-inactive", category=EL, severity=ERR, carc=("27",),
    summary="Coverage.status is active.",
    fix="Verify eligibility; bill the patient's current coverage.",
)  # fmt: skip
def check_coverage_status(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.coverage is not None and f.coverage.get("status") != "active":
        status = f.coverage.get("status") or "missing"
        yield Hit(f"Coverage status is {status}, not active.", "Coverage.status", f.coverage_key)


@register(
    "eligibility.coverage-period", category=EL, severity=ERR, carc=("26", "27"),
    summary="Coverage.period covers the date of service.",
    fix="Check the plan dates; bill the coverage in force on the date of service.",
)  # fmt: skip
def check_coverage_period(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.coverage is None or f.dos is None:
        return
    period = obj(f.coverage.get("period"))
    start, end = parse_date(period.get("start")), parse_date(period.get("end"))
    if start and f.dos < start:
        yield Hit("Date of service is before the coverage starts.", "Coverage.period.start", f.coverage_key)
    if end and f.dos > end:
        yield Hit("Date of service is after the coverage ended.", "Coverage.period.end", f.coverage_key)


def _responses(f: ClaimFacts) -> list[tuple[date, dict[str, Any]]]:
    """Completed verifications about this coverage (or this patient, when none names a coverage)."""
    cached: list[tuple[date, dict[str, Any]]] | None = f.memo.get("eligibility")
    if cached is None:
        cached = f.memo["eligibility"] = _find_responses(f)
    return cached


def _find_responses(f: ClaimFacts) -> list[tuple[date, dict[str, Any]]]:
    cov, patient = f.coverage_key, f.patient_key
    out = []
    for resp in f.history.eligibility:
        if resp.get("status") not in _LIVE or resp.get("outcome") not in _VERIFIED:
            continue
        named = {ref_key(obj(i).get("coverage")) for i in resp.get("insurance") or ()} - {None}
        if (cov in named) if named else ref_key(resp.get("patient")) == patient:
            created = parse_date(resp.get("created"))
            if created:
                out.append((created, resp))
    return sorted(out, key=lambda pair: pair[0])


@register(
    "eligibility.verification-stale", category=EL, severity=WARN, carc=("26", "27", "31"),
    summary="An eligibility verification on file is no older than the payer's window before the DOS.",
    fix="Re-run the eligibility check (270 / CoverageEligibilityRequest) for this coverage.",
)  # fmt: skip
def check_verification_age(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.coverage is None or f.dos is None:
        return
    found = [(day, key_of(resp)) for day, resp in _responses(f)] + _answers(f)
    limit = f.profile.eligibility_max_age_days
    if not found:
        yield Hit("No eligibility verification on file: re-verify.", "Coverage", f.coverage_key)
        return
    latest, source = max(found, key=lambda pair: pair[0])  # the latest timestamp, whichever way it came
    if (f.dos - latest).days > limit:
        age = (f.dos - latest).days
        yield Hit(f"Last eligibility verification is {age} days before the date of service "
                  f"(limit {limit}): re-verify.", "Coverage", source)  # fmt: skip


def _answers(f: ClaimFacts) -> list[tuple[date, str]]:
    """Real-time answers the payer gave about this coverage (History.verifications), by day."""
    out = []
    for result in f.history.verifications:
        if result.get("coverage") == f.coverage_key and result.get("status") in ("active", "inactive", "error"):
            day = parse_date(str(result.get("checked_at") or "")[:10])
            if day:
                out.append((day, f.coverage_key or "Coverage"))
    return out


@register(
    "eligibility.verification-inactive", category=EL, severity=ERR, carc=("27",),
    summary="The latest eligibility response does not say the coverage is out of force.",
    fix="Confirm the patient's current insurance; update the Coverage and re-verify.",
)  # fmt: skip
def check_verification_inforce(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.coverage is None:
        return
    found = _responses(f)
    if not found:
        return
    latest = found[-1][1]
    for n, ins in enumerate(latest.get("insurance") or ()):
        ins = obj(ins)
        mine = ref_key(ins.get("coverage")) in (f.coverage_key, None)
        if mine and ins.get("inforce") is False:
            yield Hit("The payer's latest eligibility response says the coverage is not in force.",
                      f"CoverageEligibilityResponse.insurance[{n}].inforce", key_of(latest))  # fmt: skip


def _in_force(coverage: dict[str, Any], dos: date) -> bool:
    period = obj(coverage.get("period"))
    start, end = parse_date(period.get("start")), parse_date(period.get("end"))
    return coverage.get("status") == "active" and (not start or start <= dos) and (not end or dos <= end)


@register(
    "eligibility.cob-order-missing", category=EL, severity=WARN, carc=("22",),
    summary="With more than one coverage in force, each has a distinct Coverage.order.",
    fix="Record which coverage is primary (Coverage.order) and bill the primary first.",
)  # fmt: skip
def check_cob_order(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.dos is None:
        return
    coverages = f.ctx.index.by_type.get("Coverage", ())
    if len(coverages) < 2:
        return
    dos, patient = f.dos, ref_key(f.encounter.get("subject"))
    # ctx.coverages() without its sort: the order only matters for the finding's source
    live = [c for c in coverages if ref_key(c.get("beneficiary")) == patient and _in_force(c, dos)]
    orders = [c.get("order") for c in live]
    if len(live) > 1 and (None in orders or len(set(orders)) != len(orders)):
        first = next(c for c in f.ctx.coverages() if _in_force(c, dos))
        yield Hit(f"{len(live)} coverages are in force without a distinct order.", "Coverage.order",
                  key_of(first))  # fmt: skip
