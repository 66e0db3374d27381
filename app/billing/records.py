"""Plain revenue-cycle records the KPIs are computed from, and their construction from 835 data (pure).

Phase 2 fills these from the database (claims, 999/277CA outcomes, 835 claim payments, postings);
tests and offline tools build them by hand. Money is :class:`~decimal.Decimal`, dates are local
business dates. ``claim_id`` links every record to one :class:`SubmittedClaim`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from app.billing.denials import classify_claim_payment
from app.x12 import Adjustment, ClaimPayment
from app.x12.carc import CONTRACTUAL


@dataclass(frozen=True, slots=True)
class SubmittedClaim:
    claim_id: str
    payer_id: str
    service_date: date  # first date of service
    submitted_on: date  # first submission
    charge: Decimal
    encounter_closed_on: date | None = None
    resubmissions: int = 0  # corrected / replacement submissions after the first
    manual_intervention: bool = False  # a finding was overridden (a hold acknowledged) before it went out


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A 999 transaction outcome or a 277CA claim status, mapped to the claim."""

    claim_id: str
    kind: Literal["999", "277CA"]
    accepted: bool
    received_on: date


@dataclass(frozen=True, slots=True)
class Adjudication:
    """One 835 claim payment: contractual adjustments and the denial decision."""

    claim_id: str
    adjudicated_on: date
    contractual: Decimal = Decimal(0)  # CO-45 / 253 / 24 (42, A2): reduce the collectible amount
    written_off: Decimal = Decimal(0)  # other adjustments that close the balance (e.g. OA-23 prior payer)
    denied: bool = False
    denied_amount: Decimal = Decimal(0)
    denial_categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Payment:
    """Money posted to a claim: a payer's 835 payment, a patient payment, or a claim-naming PLB adjustment."""

    claim_id: str
    received_on: date
    amount: Decimal
    source: str = "payer"  # payer | patient-payment | provider-adjustment


@dataclass(frozen=True)
class RevenueBook:
    claims: Sequence[SubmittedClaim]
    acknowledgements: Sequence[Acknowledgement] = ()
    adjudications: Sequence[Adjudication] = ()
    payments: Sequence[Payment] = ()


def _all_adjustments(claim: ClaimPayment) -> Iterable[Adjustment]:
    yield from claim.adjustments
    for line in claim.lines:
        yield from line.adjustments


def adjudication_from_835(claim: ClaimPayment, *, claim_id: str, adjudicated_on: date) -> Adjudication:
    """An :class:`Adjudication` from an 835 claim payment (claim and line CAS together).

    ``written_off`` is left at zero: whether an OA/PI adjustment closes the balance is the
    practice's posting decision, not the 835's.
    """
    decision = classify_claim_payment(claim)
    contractual = sum(
        (a.amount or Decimal(0) for a in _all_adjustments(claim) if a.group == "CO" and a.reason in CONTRACTUAL),
        Decimal(0),
    )
    return Adjudication(
        claim_id=claim_id,
        adjudicated_on=adjudicated_on,
        contractual=contractual,
        denied=decision.denied,
        denied_amount=decision.denied_amount,
        denial_categories=decision.categories,
    )
