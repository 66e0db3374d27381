"""Claim.diagnosis: the encounter's ICD-10-CM codes in billing order, and line pointers into them.

Order: ``Encounter.diagnosis`` by ``rank`` (unranked after ranked, then as listed), then
``Encounter.reasonReference``, then the other Conditions that point at the encounter (by id). The
first is the principal diagnosis. A code appears once; a Condition without an ICD-10-CM code is a
``missing-data`` warning. Lines point at their order's reasons (≤ 4), else at the principal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.domain.context import EncounterContext, key_of
from app.domain.findings import Finding
from app.mappers.issues import make_finding
from app.mappers.spec import MappingSet

ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
DIAGNOSIS_TYPE = "http://terminology.hl7.org/CodeSystem/ex-diagnosistype"
MAX_LINE_POINTERS = 4


@dataclass
class Diagnoses:
    codes: list[str] = field(default_factory=list)
    by_condition: dict[str, int] = field(default_factory=dict)  # Condition key -> sequence
    conditions: list[dict[str, Any]] = field(default_factory=list)  # the coded Conditions, in order

    def add(self, code: str) -> int:
        if code not in self.codes:
            self.codes.append(code)
        return self.codes.index(code) + 1

    def pointers(self, condition_keys: list[str], codes: list[str]) -> list[int]:
        """Sequences for a line's reasons (known Conditions first, then codes, added if new); ≤ 4."""
        seqs = [self.by_condition[k] for k in condition_keys if k in self.by_condition]
        seqs += [self.add(c) for c in codes]
        unique = list(dict.fromkeys(seqs))[:MAX_LINE_POINTERS]
        return unique or ([1] if self.codes else [])

    def to_claim(self) -> list[dict[str, Any]]:
        out = []
        for i, code in enumerate(self.codes, start=1):
            entry: dict[str, Any] = {
                "sequence": i,
                "diagnosisCodeableConcept": {"coding": [{"system": ICD10_CM, "code": code}]},
            }
            if i == 1:
                entry["type"] = [{"coding": [{"system": DIAGNOSIS_TYPE, "code": "principal"}]}]
            out.append(entry)
        return out


def _rank(element: dict[str, Any]) -> Decimal:
    rank = element.get("rank")
    return Decimal(rank) if isinstance(rank, int) and not isinstance(rank, bool) else Decimal("Infinity")


def _candidate_refs(ctx: EncounterContext, spec: MappingSet) -> list[Any]:
    enc = ctx.encounter
    elements = [e for e in spec.values("encounter.diagnosis", enc) if isinstance(e, dict)]
    ranked = sorted(enumerate(elements), key=lambda pair: (_rank(pair[1]), pair[0]))
    refs: list[Any] = [e.get("condition") for _, e in ranked]
    refs += spec.values("encounter.reasons", enc)
    refs += sorted(key_of(c) for c in ctx.linked("Condition"))
    return refs


def collect_diagnoses(ctx: EncounterContext, spec: MappingSet) -> tuple[Diagnoses, list[Finding]]:
    """The claim's diagnoses and the findings about Conditions that cannot go on it."""
    found = Diagnoses()
    findings: list[Finding] = []
    seen: set[str] = set()
    for ref in _candidate_refs(ctx, spec):
        condition = ctx.resolve(ref)
        if condition is None or condition.get("resourceType") != "Condition":
            continue
        key = key_of(condition)
        if key in seen:
            continue
        seen.add(key)
        code = spec.one("condition.icd10", condition)
        if not isinstance(code, str):
            findings.append(
                make_finding(
                    "missing-data.diagnosis-not-icd10",
                    message=f"{key} has no ICD-10-CM code and is left off the claim",
                    location="Condition.code",
                    source=key,
                )
            )
            continue
        found.by_condition[key] = found.add(code)
        found.conditions.append(condition)
    return found, findings
