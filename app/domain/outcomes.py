"""Encounter outcomes: every evaluated encounter ends as a claim or as an explained outcome. Pure.

A billing tool must never answer a finished visit with silence. :func:`explain_encounter` gives each
encounter one :class:`EncounterOutcome` (in this order of precedence):

- ``history``           the Encounter carries the context-only tag (ADR 0004): a prior visit, not billed (info);
- ``not-finished``      ``Encounter.status`` is not ``finished`` (``documentation``): charges are billed once
                        it is; a claim already mapped from its charges stays held until then;
- ``no-coverage``       no active Coverage on file, or only a self-pay one (``eligibility``): a claim mapped
                        from the charges is held until the insurance is registered, or the patient is billed;
- ``nothing-billable``  a finished visit that yields no claim line (``charge-capture``), saying what was
                        looked at (with a ``no-coverage`` finding too when no Coverage is on file);
- ``claim``             a claim was made (its own findings say whether it is held and why).

The outcome's findings follow the public taxonomy and come from the closed registry
:data:`OUTCOME_RULES`, documented in ``docs/rules.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from app.domain.context import EncounterContext, Resource, is_history, key_of, ref_of
from app.domain.findings import Category, Finding, Severity


class Outcome(StrEnum):
    CLAIM = "claim"
    NOTHING_BILLABLE = "nothing-billable"
    NO_COVERAGE = "no-coverage"
    NOT_FINISHED = "not-finished"
    HISTORY = "history"


@dataclass(frozen=True)
class OutcomeRule:
    category: Category
    severity: Severity
    fix: str


OUTCOME_RULES: dict[str, OutcomeRule] = {
    "charge-capture.nothing-billable": OutcomeRule(
        Category.CHARGE_CAPTURE, Severity.WARNING,
        "Record what was done: the E/M level (Encounter.type, a ChargeItem or a Procedure in CPT/HCPCS) and "
        "the services and drugs given (completed orders); a visit that is truly free of charge can say so "
        "with a ChargeItem of status not-billable.",
    ),
    "charge-capture.marked-not-billable": OutcomeRule(
        Category.CHARGE_CAPTURE, Severity.INFO,
        "Nothing to do: the EHR marked the visit's charges not billable.",
    ),
    "charge-capture.history-encounter": OutcomeRule(
        Category.CHARGE_CAPTURE, Severity.INFO,
        "Nothing to do: a prior visit sent as context (tag urn:claimbridge:encounter-role#history) is never "
        "billed; remove the tag if this visit is to be billed.",
    ),
    "eligibility.no-coverage-on-file": OutcomeRule(
        Category.ELIGIBILITY, Severity.WARNING,
        "Register the patient's insurance in the EHR (an active Coverage naming the payer); the encounter is "
        "re-evaluated when it arrives. If the patient pays, record a self-pay Coverage and bill the patient.",
    ),
    "eligibility.self-pay": OutcomeRule(
        Category.ELIGIBILITY, Severity.INFO,
        "Bill the patient directly (statement); if the patient has insurance after all, register it as an "
        "active Coverage and the encounter is re-evaluated.",
    ),
    "documentation.encounter-open": OutcomeRule(
        Category.DOCUMENTATION, Severity.WARNING,
        "Finish the encounter in the EHR (status finished) once the visit is over; it is billed then.",
    ),
    "documentation.encounter-cancelled": OutcomeRule(
        Category.DOCUMENTATION, Severity.INFO,
        "Nothing to do for a cancelled visit; if it did take place, correct Encounter.status and it is billed.",
    ),
    "charge-capture.claim-withdrawn": OutcomeRule(
        Category.CHARGE_CAPTURE, Severity.INFO,
        "Nothing to do: the payer never had this claim, so it is withdrawn and not sent. If the visit is to be "
        "billed after all, record its charges again (or correct Encounter.status): the claim comes back.",
    ),
    "charge-capture.claim-voided": OutcomeRule(
        Category.CHARGE_CAPTURE, Severity.WARNING,
        "The payer has this claim: a void (837P frequency 8) goes in the next batch once the payer's claim "
        "number is known, and the payer takes back what it paid. If the visit is to be billed after all, "
        "record its charges again: a replacement follows.",
    ),
}  # fmt: skip

SELF_PAY_SYSTEM = "http://terminology.hl7.org/CodeSystem/coverage-selfpay"
CANCELLED = frozenset({"cancelled", "entered-in-error"})
# What a visit's charges can come from: where the mapper (and the charges engineer's sources) look.
CHARGE_SOURCES = ("ServiceRequest", "MedicationRequest", "Procedure", "ChargeItem")


@dataclass(frozen=True)
class EncounterOutcome:
    """How one encounter ended: its claim, or why there is none (``findings`` explain it)."""

    encounter: str
    patient: str | None
    status: str | None  # Encounter.status
    outcome: Outcome
    claim_id: str | None = None
    held: bool = False
    findings: tuple[Finding, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "encounter": self.encounter,
            "patient": self.patient,
            "status": self.status,
            "outcome": self.outcome.value,
            "claim": self.claim_id,
            "held": self.held,
            "findings": [f.to_dict() for f in self.findings],
        }

    @property
    def reason(self) -> str:
        """One line for people: the first finding's message, or what the claim is."""
        if self.findings:
            return self.findings[0].message
        return f"claim {self.claim_id}" + (" (held)" if self.held else "")


def outcome_finding(rule: str, *, message: str, location: str, source: str | None) -> Finding:
    """A :class:`Finding` for a registered outcome rule."""
    definition = OUTCOME_RULES[rule]
    return Finding(rule, definition.category, definition.severity, message, location, source, definition.fix)


@dataclass(frozen=True)
class ClaimSummary:
    """What the outcome needs to know of a claim made for the encounter."""

    claim_id: str
    held: bool


Active = Callable[[Resource], bool]


def explain_encounter(
    encounter: Resource, ctx: EncounterContext | None, claim: ClaimSummary | None, *, active: Active
) -> EncounterOutcome:
    """The outcome of one evaluated encounter (``ctx`` is None for a history encounter)."""
    key = key_of(encounter)
    status = encounter.get("status") if isinstance(encounter.get("status"), str) else None
    base = EncounterOutcome(
        encounter=key,
        patient=ref_of(encounter.get("subject")),
        status=status,
        outcome=Outcome.CLAIM,
        claim_id=claim.claim_id if claim else None,
        held=claim.held if claim else False,
    )
    if ctx is None or is_history(encounter):
        return replace(base, outcome=Outcome.HISTORY, findings=(_history(key),))
    if status != "finished":
        return replace(base, outcome=Outcome.NOT_FINISHED, findings=(_not_finished(key, status),))
    coverage = _coverage_finding(ctx, active)
    if claim is None:
        found = (_nothing_billable(ctx), *((coverage,) if coverage is not None else ()))
        return replace(base, outcome=Outcome.NOTHING_BILLABLE, findings=found)
    if coverage is not None:
        return replace(base, outcome=Outcome.NO_COVERAGE, findings=(coverage,))
    return base


def _history(key: str) -> Finding:
    return outcome_finding(
        "charge-capture.history-encounter",
        message=f"{key} is a prior visit sent as context (history tag): not billed here",
        location="Encounter.meta.tag",
        source=key,
    )


def _not_finished(key: str, status: str | None) -> Finding:
    if status in CANCELLED:
        rule, what = "documentation.encounter-cancelled", f"the visit is {status}: nothing is billed"
    else:
        rule, what = "documentation.encounter-open", f"the visit is {status or 'without a status'}, not finished"
    return outcome_finding(
        rule, message=f"{what}; charges are billed once it is finished", location="Encounter.status", source=key
    )


def _is_self_pay(coverage: Resource) -> bool:
    codings = ((coverage.get("type") or {}).get("coding")) or ()
    if any(c.get("system") == SELF_PAY_SYSTEM and c.get("code") == "pay" for c in codings if isinstance(c, dict)):
        return True
    payors = [ref_of(p) or "" for p in coverage.get("payor") or ()]
    return bool(payors) and all(p.startswith(("Patient/", "RelatedPerson/")) for p in payors)


def _coverage_finding(ctx: EncounterContext, active: Active) -> Finding | None:
    patient = ref_of(ctx.encounter.get("subject")) or ctx.key
    coverages = [c for c in ctx.coverages() if active(c)]
    if not coverages:
        message = f"no active Coverage on file for {patient}: self-pay, or the insurance was not registered"
        return outcome_finding("eligibility.no-coverage-on-file", message=message, location="Coverage", source=patient)
    if all(_is_self_pay(c) for c in coverages):
        key = key_of(coverages[0])
        return outcome_finding(
            "eligibility.self-pay",
            message=f"self-pay: {key} names no payer but the patient; no payer claim is due",
            location="Coverage.payor",
            source=key,
        )
    return None


def _nothing_billable(ctx: EncounterContext) -> Finding:
    looked = [f"Encounter.type {_codes(ctx.encounter.get('type'))}"]
    for rtype in CHARGE_SOURCES:
        linked = ctx.linked(rtype)
        looked.append(f"{len(linked)} {rtype}{_statuses(linked)}")
    marked = any(c.get("status") == "not-billable" for c in ctx.linked("ChargeItem"))
    rule = "charge-capture.marked-not-billable" if marked else "charge-capture.nothing-billable"
    return outcome_finding(
        rule,
        message="finished visit with nothing billable; looked at " + ", ".join(looked),
        location="Encounter",
        source=ctx.key,
    )


def _codes(concepts: Any) -> str:
    codes = [
        str(c.get("code"))
        for concept in (concepts if isinstance(concepts, list) else [])
        if isinstance(concept, dict)
        for c in concept.get("coding") or ()
        if isinstance(c, dict) and c.get("code")
    ]
    return "(" + (", ".join(codes) if codes else "no code") + ")"


def _statuses(resources: Iterable[Resource]) -> str:
    counts = Counter(str(r.get("status") or "no status") for r in resources)
    return " (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")" if counts else ""
