"""One stored, ready claim → its 837P input for a batch, or the reasons the X12 layer refuses it (pure).

The service's submitter (:mod:`app.worker.submit`) loads ready claims and their encounter contexts
from the database and calls :func:`prepare_claim` for each. A refusal becomes the ``error`` finding
:func:`refusal_finding` (rule ``x12.refused``) that keeps the claim held until a new version fixes it.
CLM01 candidates (:func:`pcn_candidates`) are tried in order until one is not taken by another claim.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.billing.submission import patient_control_number
from app.domain.context import EncounterContext
from app.domain.findings import Category, Finding, Severity
from app.domain.payers import PayerDirectory
from app.x12 import ClaimInput, X12BuildError, claim_input_from_fhir
from app.x12.systems import PATIENT_CONTROL_NUMBER, RELATED_CLAIM_RELATIONSHIP

REFUSED_RULE = "x12.refused"


@dataclass(frozen=True, slots=True)
class Candidate:
    claim_id: str
    version: int
    payer_id: str | None
    claim: dict[str, Any]
    context: EncounterContext | None
    patient_control_number: str


@dataclass(frozen=True, slots=True)
class Prepared:
    claim_id: str
    version: int
    claim_input: ClaimInput
    encounter_closed_at: datetime | None

    @property
    def service_date(self) -> date | None:
        return min((line.service_date for line in self.claim_input.lines), default=None)

    @property
    def charge_cents(self) -> int:
        return to_cents(self.claim_input.total_charge)


@dataclass(frozen=True, slots=True)
class Refused:
    claim_id: str
    version: int
    reasons: tuple[str, ...]


def to_cents(value: Decimal) -> int:
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def pcn_candidates(claim: dict[str, Any]) -> list[str]:
    """CLM01 values to try for a claim: the usual one, then a hash of the claim id (both ≤ 20)."""
    first = patient_control_number(claim)
    fallback = hashlib.sha256(str(claim.get("id", "")).encode()).hexdigest()[:20]
    return [first] if first == fallback else [first, fallback]


def encounter_closed_at(ctx: EncounterContext | None) -> datetime | None:
    """``Encounter.period.end`` as an aware datetime (UTC when the EHR gave no offset)."""
    if ctx is None:
        return None
    end = (ctx.encounter.get("period") or {}).get("end")
    if not isinstance(end, str) or not end:
        return None
    try:
        parsed = datetime.fromisoformat(end.replace("Z", "+00:00")) if "T" in end else datetime.fromisoformat(end)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def with_pcn(claim: dict[str, Any], pcn: str) -> dict[str, Any]:
    identifiers = [i for i in claim.get("identifier") or () if i.get("system") != PATIENT_CONTROL_NUMBER]
    return {**claim, "identifier": [*identifiers, {"system": PATIENT_CONTROL_NUMBER, "value": pcn}]}


def with_replacement(claim: dict[str, Any], payer_icn: str) -> dict[str, Any]:
    """The claim as a replacement of the one the payer holds as ``payer_icn`` (837P frequency 7, REF*F8)."""
    prior = {
        "relationship": {"coding": [{"system": RELATED_CLAIM_RELATIONSHIP, "code": "prior"}]},
        "reference": {"value": payer_icn},
    }
    return {**claim, "related": [prior]}


def prepare_claim(candidate: Candidate, *, payers: PayerDirectory) -> Prepared | Refused:
    """The claim's :class:`~app.x12.ClaimInput` with its CLM01, or why the guide refuses it."""
    if candidate.context is None:
        return Refused(candidate.claim_id, candidate.version, ("the encounter is no longer in the mirror",))
    profile = payers.profile_for(candidate.payer_id)
    indicator = None if profile.is_default else profile.claim_filing_indicator
    by_type = None if profile.is_default else profile.type_filing_indicator  # after Coverage.type
    claim = with_pcn(candidate.claim, candidate.patient_control_number)
    try:
        built = claim_input_from_fhir(
            claim, candidate.context, filing_indicator=indicator, default_filing_indicator=by_type
        )
    except X12BuildError as exc:
        return Refused(candidate.claim_id, candidate.version, exc.reasons)
    return Prepared(candidate.claim_id, candidate.version, built, encounter_closed_at(candidate.context))


def refusal_finding(reasons: tuple[str, ...]) -> Finding:
    """The finding that holds a claim the 837P builder refused."""
    return Finding(
        rule=REFUSED_RULE,
        category=Category.MISSING_DATA,
        severity=Severity.ERROR,
        message="The 837P builder refused the claim: " + "; ".join(reasons),
        location="Claim",
        source=None,
        fix="Complete or correct the data named above in the EHR; the next claim version is checked again.",
    )
