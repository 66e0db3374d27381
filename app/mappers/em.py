"""The office/outpatient E/M level (99202-99205, 99211-99215; CPT 2024+ rules, billing-domain §4).

Supported level = the higher of the level by total time (``Encounter.length``, else the rendering
clinician's participant periods; 2024+ single minimums) and the MDM level (:mod:`app.mappers.mdm`);
on a tie the basis is ``mdm``. New vs established: a finished prior encounter (``ctx.history``) of
the same billing organization within ``settings.established_lookback_years`` ⇒ established; with no
history at all the billed code's category is followed and nothing is raised. The billed code is the
first office E/M code found, in this order: the ``em.billed`` field (by default ``Encounter.type``),
then billable ChargeItems, then completed Procedures of the encounter (each by id). Whichever carried
it, the calculator and its findings are the same.

Findings are advisory (MDM judgement stays with the clinician): billed below the supported level →
``undercoding.em-level``; above → ``coding.em-overcoded``; wrong new/established category →
``coding.em-patient-category`` (alone: levels of different categories are not compared; its
message names the supported code). A billed 99211 (no time or MDM threshold) is only flagged when more
than straightforward MDM or time is supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.domain.context import EncounterContext, key_of, reference_key
from app.domain.findings import Finding
from app.mappers.charges import Line
from app.mappers.issues import make_finding
from app.mappers.mdm import Mdm
from app.mappers.parties import reference_of_field
from app.mappers.spec import MappingSet

NEW_CODES = ("99202", "99203", "99204", "99205")  # scores 1-4
ESTABLISHED_CODES = ("99211", "99212", "99213", "99214", "99215")  # scores 0-4
NEW_MINUTES = ((60, 4), (45, 3), (30, 2), (15, 1))
ESTABLISHED_MINUTES = ((40, 4), (30, 3), (20, 2), (10, 1))


@dataclass(frozen=True)
class BilledEm:
    code: str
    source: str  # Type/id of the resource the code came from
    line: Line | None = None  # the ChargeItem/Procedure charge of that code (performer, price override)


def em_score(code: str) -> tuple[str, int]:
    """(patient category, score) of an office E/M code."""
    if code in NEW_CODES:
        return "new", NEW_CODES.index(code) + 1
    return "established", ESTABLISHED_CODES.index(code)


def em_code(category: str, score: int) -> str:
    return NEW_CODES[score - 1] if category == "new" else ESTABLISHED_CODES[score]


def find_billed_em(
    ctx: EncounterContext, spec: MappingSet, carriers: Sequence[Line] = ()
) -> tuple[BilledEm | None, list[Finding]]:
    """The billed office E/M: the ``em.billed`` field first, then ``carriers`` (E/M charge lines of
    billable ChargeItems, then completed Procedures, each by id). The first code found is billed;
    the same code on another resource is the same service; a different code is a finding."""
    on = spec.on("em.billed")
    sources = [ctx.encounter] if on == "Encounter" else sorted(ctx.linked(on), key=key_of)
    found = [
        BilledEm(code=code, source=key_of(resource))
        for resource in sources
        for code in spec.values("em.billed", resource)
        if code in NEW_CODES or code in ESTABLISHED_CODES
    ]
    found += [BilledEm(code=line.code.code, source=line.source, line=line) for line in carriers]
    if not found:
        return None, []
    first = found[0]
    line = next((b.line for b in found if b.line is not None and b.code == first.code), None)
    findings = []
    distinct = sorted({b.code for b in found})
    if len(distinct) > 1:
        findings.append(
            make_finding(
                "coding.em-multiple-billed",
                message=f"several E/M codes billed ({', '.join(distinct)}); {first.code} is used",
                location=em_location(first),
                source=first.source,
            )
        )
    same = sorted({b.source for b in found if b.code == first.code and b.source != first.source})
    if same:
        findings.append(
            make_finding(
                "duplicate.same-service",
                message=f"{', '.join(same)} and {first.source} record one E/M service ({first.code}); billed once",
                location=em_location(first),
                source=first.source,
            )
        )
    return BilledEm(code=first.code, source=first.source, line=line), findings


def em_location(billed: BilledEm) -> str:
    kind = billed.source.split("/", 1)[0]
    return f"{kind}.type" if kind == "Encounter" else f"{kind}.code"


def _minutes_between(period: Any) -> float:
    if not isinstance(period, dict):
        return 0.0
    try:
        start = datetime.fromisoformat(str(period.get("start")))
        end = datetime.fromisoformat(str(period.get("end")))
        return max((end - start).total_seconds() / 60, 0.0)
    except (TypeError, ValueError):
        return 0.0


def total_minutes(ctx: EncounterContext, spec: MappingSet, rendering: str | None) -> int | None:
    minutes = spec.one("encounter.minutes", ctx.encounter)
    if minutes is not None:
        return int(minutes)
    total = 0.0
    for participant in ctx.encounter.get("participant") or ():
        if not isinstance(participant, dict) or rendering is None:
            continue
        target = ctx.resolve(participant.get("individual"))
        individual = (
            key_of(target) if target else reference_key(str((participant.get("individual") or {}).get("reference")))
        )
        if individual == rendering:
            total += _minutes_between(participant.get("period"))
    return int(total) if total > 0 else None


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def patient_category(ctx: EncounterContext, spec: MappingSet, billing_org: str | None) -> str | None:
    """``new`` / ``established`` from the history, or None when there is no history to judge by."""
    start = spec.one("encounter.start", ctx.encounter)
    if not ctx.history or not isinstance(start, str):
        return None
    today = date.fromisoformat(start)
    since = _years_before(today, spec.settings.established_lookback_years)
    for prior in ctx.history:
        prior_start = spec.one("encounter.start", prior)
        if prior.get("status") != "finished" or not isinstance(prior_start, str):
            continue
        if not since <= date.fromisoformat(prior_start) < today:
            continue
        if reference_of_field(ctx, spec, "encounter.billing_provider", prior) == billing_org:
            return "established"
    return "new"


def time_score(category: str, minutes: int | None) -> int:
    table = NEW_MINUTES if category == "new" else ESTABLISHED_MINUTES
    return next((score for floor, score in table if minutes is not None and minutes >= floor), 0)


@dataclass(frozen=True)
class EmInputs:
    billed: BilledEm
    mdm: Mdm
    minutes: int | None
    category: str | None  # from history; None = follow the billed code
    location: str  # FHIRPath of the E/M line in the Claim
    encounter: str  # Type/id of the encounter (the evidence for time)


def evaluate_em(inputs: EmInputs) -> tuple[dict[str, Any], list[Finding]]:
    """The E/M result dict and the findings comparing it with the billed code."""
    billed_category, billed_score = em_score(inputs.billed.code)
    category = inputs.category or billed_category
    by_time = time_score(category, inputs.minutes)
    score = max(by_time, inputs.mdm.level)
    evidence = ([inputs.encounter] if by_time else []) + list(inputs.mdm.evidence)
    supported = em_code(category, score)
    result: dict[str, Any] = {
        "code": supported,
        "basis": "time" if by_time > inputs.mdm.level else "mdm",
        "mdm": inputs.mdm.to_dict(),
        "minutes": inputs.minutes,
        "evidence": list(dict.fromkeys(evidence)),
        "billed": inputs.billed.code,
        "patient": category,
        "patient_from": "history" if inputs.category else "billed-code",
    }
    return result, _compare(inputs, supported, score, billed_category, billed_score)


def _compare(inputs: EmInputs, supported: str, score: int, category: str, billed: int) -> list[Finding]:
    out = []
    where, source, code = inputs.location, inputs.billed.source, inputs.billed.code
    if inputs.category and inputs.category != category:
        article = "an" if inputs.category == "established" else "a"
        return [
            make_finding(
                "coding.em-patient-category",
                location=where,
                source=source,
                message=f"billed {code} ({category} patient) but the history shows {article} "
                f"{inputs.category} patient; {supported} is supported",
            )
        ]
    if billed < score and not (billed == 0 and score == 1):
        out.append(
            make_finding(
                "undercoding.em-level",
                location=where,
                source=source,
                message=f"billed {code} but {supported} is supported",
            )
        )
    elif billed > score:
        out.append(
            make_finding(
                "coding.em-overcoded",
                location=where,
                source=source,
                message=f"billed {code} but only {supported} is supported",
            )
        )
    return out
