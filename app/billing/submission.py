"""Which checked claims go into an 837P, in which order, and why the others stay behind (pure).

:func:`plan_submission` takes a :class:`~app.evaluate.CheckReport` and the encounter contexts the
claims were built from. A claim with any ``error`` finding is left out (stage ``scrubbing``, with each
error's rule and message); every other claim is turned into a :class:`~app.x12.ClaimInput`, and a
claim the X12 layer refuses is left out too (stage ``x12``, with the builder's reasons). Ready claims
come out ordered by timely-filing deadline, earliest first (no deadline last), then by claim id.

CLM01 (the patient control number the 999/277CA/835 echo back) is at most 20 characters: a Claim
without a ``urn:claimbridge:patient-control-number`` identifier gets :func:`patient_control_number`,
which is the claim id itself when it fits, else the first 20 hex digits of a ``cb-`` id (so
``"cb-" + pcn`` is a prefix of the claim id), else a hash of the id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from app.domain.context import EncounterContext
from app.domain.findings import Severity
from app.domain.payers import PayerDirectory
from app.evaluate import CheckReport, Evaluation
from app.x12 import ClaimInput, WriteSummary, X12BuildError, claim_input_from_fhir
from app.x12.systems import PATIENT_CONTROL_NUMBER

_CB_ID = re.compile(r"^cb-([0-9a-f]{20,})$")
Stage = Literal["scrubbing", "x12"]


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A claim that is not in the file: ``stage`` says who stopped it, ``reasons`` say why."""

    claim_id: str
    encounter: str
    payer_id: str | None
    stage: Stage
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReadyClaim:
    evaluation: Evaluation
    claim_input: ClaimInput

    @property
    def deadline(self) -> date | None:
        return self.evaluation.filing_deadline


@dataclass(frozen=True, slots=True)
class SubmissionPlan:
    ready: tuple[ReadyClaim, ...]
    left_out: tuple[LeftOut, ...]


def patient_control_number(claim: Mapping[str, Any]) -> str:
    """CLM01 for a Claim: its patient-control-number identifier, or one derived from ``Claim.id``."""
    for ident in claim.get("identifier") or ():
        if ident.get("system") == PATIENT_CONTROL_NUMBER and ident.get("value"):
            return str(ident["value"])
    claim_id = str(claim.get("id") or "")
    if 0 < len(claim_id) <= 20:
        return claim_id
    match = _CB_ID.match(claim_id)
    if match:
        return match.group(1)[:20]
    return hashlib.sha256(claim_id.encode()).hexdigest()[:20]


def with_control_number(claim: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy of ``claim`` that carries its patient control number as an identifier."""
    pcn = patient_control_number(claim)
    identifiers = [i for i in claim.get("identifier") or () if i.get("system") != PATIENT_CONTROL_NUMBER]
    return {**claim, "identifier": [*identifiers, {"system": PATIENT_CONTROL_NUMBER, "value": pcn}]}


def _error_reasons(ev: Evaluation) -> tuple[str, ...]:
    return tuple(f"{f.rule}: {f.message}" for f in ev.findings if f.severity is Severity.ERROR)


def _left_out(ev: Evaluation, stage: Stage, reasons: tuple[str, ...]) -> LeftOut:
    return LeftOut(ev.claim_id, ev.encounter, ev.payer_id, stage, reasons)


def _order(ready: ReadyClaim) -> tuple[date, str]:
    return ready.deadline or date.max, ready.evaluation.claim_id


def plan_submission(
    report: CheckReport, contexts: Mapping[str, EncounterContext], *, payers: PayerDirectory
) -> SubmissionPlan:
    """Split checked claims into ready (ordered by filing deadline) and left out (with reasons)."""
    ready: list[ReadyClaim] = []
    left: list[LeftOut] = []
    for ev in report.evaluations:
        if ev.held:
            left.append(_left_out(ev, "scrubbing", _error_reasons(ev)))
            continue
        ctx = contexts.get(ev.encounter)
        if ctx is None:
            left.append(_left_out(ev, "x12", (f"no context for {ev.encounter}",)))
            continue
        profile = payers.profile_for(ev.payer_id)
        indicator = None if profile.is_default else profile.claim_filing_indicator
        by_type = None if profile.is_default else profile.type_filing_indicator  # after Coverage.type
        try:
            built = claim_input_from_fhir(
                with_control_number(ev.claim), ctx, filing_indicator=indicator, default_filing_indicator=by_type
            )
        except X12BuildError as exc:
            left.append(_left_out(ev, "x12", exc.reasons))
            continue
        ready.append(ReadyClaim(ev, built))
    return SubmissionPlan(tuple(sorted(ready, key=_order)), tuple(left))


def refused_by_writer(plan: SubmissionPlan, summary: WriteSummary) -> tuple[LeftOut, ...]:
    """The claims :func:`app.x12.write_837p` refused (``on_error="skip"``), as :class:`LeftOut` rows."""
    by_pcn = {r.claim_input.claim_id: r.evaluation for r in plan.ready}
    out = []
    for error in summary.refused:
        ev = by_pcn.get(error.claim_id or "")
        if ev is not None:
            out.append(_left_out(ev, "x12", error.reasons))
        else:
            out.append(LeftOut(error.claim_id or "?", "", None, "x12", error.reasons))
    return tuple(out)
