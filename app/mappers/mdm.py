"""Medical decision making (office/outpatient E/M, AMA 2021+ with the 2023 wording; billing-domain §4).

Each element scores 1-4 (1 straightforward/minimal, 2 low/limited, 3 moderate, 4 high/extensive);
the MDM level is the one met or exceeded by 2 of the 3 elements, i.e. the second-highest score.

- Problems (the encounter's coded Conditions): a chronic problem (problem-class table) with severe
  severity → 4; a chronic problem with an exacerbation or moderate severity, an undiagnosed new
  problem (provisional/differential) or an acute problem with severe severity → 3; ≥ 2 stable
  chronic → 3; 1 stable chronic, 1 acute uncomplicated or ≥ 2 minor → 2; else 1. A threat to life or
  bodily function cannot be derived from codes and is left to the clinician.
- Data: category 1 counts each unique test ordered (lab/imaging, by billable code) and each
  external note (a DocumentReference of the encounter whose custodian is not the billing
  organization); an independent historian counts in category 1 for moderate and alone makes
  limited. ≥ 3 → moderate, ≥ 2 or historian → limited. Categories 2 and 3 (independent
  interpretation, discussion with an external physician) are not derived, so ``extensive`` is not
  reached from data alone.
- Risk: the mapped risk of each order (order-risk table; referrals: ``settings.referral_risk``)
  and of each drug (drug-risk table); else a prescription is moderate (prescription drug
  management) and a drug given in the office is low.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.domain.context import EncounterContext, key_of
from app.mappers.parties import reference_of_field
from app.mappers.spec import MappingSet
from app.mappers.tables import MappedCode

RISK_SCORES = {"minimal": 1, "low": 2, "moderate": 3, "high": 4}
PROBLEM_NAMES = {1: "minimal", 2: "low", 3: "moderate", 4: "high"}
DATA_NAMES = {1: "minimal", 2: "limited", 3: "moderate", 4: "extensive"}
RISK_NAMES = {1: "minimal", 2: "low", 3: "moderate", 4: "high"}
MDM_NAMES = {1: "straightforward", 2: "low", 3: "moderate", 4: "high"}
_VOID = frozenset({"revoked", "entered-in-error", "cancelled"})


@dataclass(frozen=True)
class Mdm:
    problems: int
    data: int
    risk: int
    evidence: tuple[str, ...]

    @property
    def level(self) -> int:
        return sorted((self.problems, self.data, self.risk), reverse=True)[1]

    def to_dict(self) -> dict[str, str]:
        return {
            "level": MDM_NAMES[self.level],
            "problems": PROBLEM_NAMES[self.problems],
            "data": DATA_NAMES[self.data],
            "risk": RISK_NAMES[self.risk],
        }


def _mapped(value: Any) -> str | None:
    return value.code if isinstance(value, MappedCode) else value if isinstance(value, str) else None


def _problem_score(spec: MappingSet, condition: dict[str, Any]) -> tuple[int, str]:
    """(score, kind) of one Condition; kind is chronic-stable, minor or other."""
    kind = _mapped(spec.one("condition.problem_class", condition))
    severity = _mapped(spec.one("condition.severity", condition))
    if spec.flag("condition.undiagnosed", condition):
        return 3, "other"
    if kind == "chronic":
        if severity == "severe":
            return 4, "other"
        if severity == "moderate" or spec.flag("condition.exacerbation", condition):
            return 3, "other"
        return 2, "chronic-stable"
    if kind == "minor":
        return 1, "minor"
    return (3 if severity == "severe" else 2), "other"


def score_problems(spec: MappingSet, conditions: list[dict[str, Any]]) -> int:
    best, stable, minor = 1, 0, 0
    for condition in conditions:
        score, kind = _problem_score(spec, condition)
        best = max(best, score)
        stable += kind == "chronic-stable"
        minor += kind == "minor"
    if stable >= 2:
        best = max(best, 3)
    if minor >= 2:
        best = max(best, 2)
    return best


def _live(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((r for r in resources if r.get("status") not in _VOID), key=key_of)


def score_data(ctx: EncounterContext, spec: MappingSet, billing_org: str | None) -> tuple[int, list[str]]:
    tests: set[str] = set()
    evidence: list[str] = []
    for order in _live(ctx.linked("ServiceRequest")):
        code = spec.one("service_request.code", order)
        kind = _mapped(spec.one("service_request.test_kind", order))
        category = code.category if isinstance(code, MappedCode) else None
        if kind in ("lab", "imaging") or category in ("lab", "imaging"):
            tests.add(code.code if isinstance(code, MappedCode) else key_of(order))
            evidence.append(key_of(order))
    notes = 0
    for doc in _live(ctx.linked("DocumentReference")):
        custodian = reference_of_field(ctx, spec, "document.custodian", doc)
        if custodian and custodian != billing_org:
            notes += 1
            evidence.append(key_of(doc))
    historian = spec.flag("encounter.independent_historian", ctx.encounter)
    count = len(tests) + notes
    if count + historian >= 3:
        return 3, evidence
    return (2 if count >= 2 or historian else 1), evidence


def score_risk(ctx: EncounterContext, spec: MappingSet) -> tuple[int, list[str]]:
    best, evidence = 1, []
    for order in _live(ctx.linked("ServiceRequest")):
        if spec.flag("service_request.referral", order):
            score = RISK_SCORES[spec.settings.referral_risk]
        else:
            score = RISK_SCORES.get(_mapped(spec.one("service_request.risk", order)) or "", 1)
        if score > 1:
            evidence.append(key_of(order))
        best = max(best, score)
    for order in _live(ctx.linked("MedicationRequest")):
        mapped = RISK_SCORES.get(_mapped(spec.one("medication_request.risk", order)) or "")
        if mapped is None and spec.flag("medication_request.prescription", order):
            mapped = 3
        elif mapped is None and spec.flag("medication_request.in_office", order):
            mapped = 2
        if mapped:
            evidence.append(key_of(order))
            best = max(best, mapped)
    return best, evidence


def score_mdm(
    ctx: EncounterContext, spec: MappingSet, *, conditions: list[dict[str, Any]], billing_org: str | None
) -> Mdm:
    data, data_evidence = score_data(ctx, spec, billing_org)
    risk, risk_evidence = score_risk(ctx, spec)
    evidence = [key_of(c) for c in conditions] + data_evidence + risk_evidence
    return Mdm(
        problems=score_problems(spec, conditions),
        data=data,
        risk=risk,
        evidence=tuple(dict.fromkeys(evidence)),
    )
