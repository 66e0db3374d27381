"""A claim's balances per payer and for the patient, from its posted answers and ledger entries (pure).

The claim's payers are billed in order (:func:`app.billing.posting.payer_order`): the first is
billed the charge, each later one what the previous payer left to the patient. A payer's balance is
what it was billed less what it paid, adjusted (contractual, or for a later payer what its answer
closed; see :mod:`app.billing.posting`) and left to the patient: zero once it answered in full, the
denied amount while a denial is worked, the whole bill while it has not answered. The patient owes
the patient responsibility of the last payer that answered, less the patient's payments.
Provider-level adjustments (PLB) that name the claim change what its payer paid (a recoupment is a
negative amount). The claim's balance is the sum of the payers' and the patient's; it equals the
charge less every payment and adjustment.

Cents in, cents out: every figure is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.billing.posting import Posted, payer_order


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """Money on the claim outside 835 claim payments (integer cents)."""

    kind: str  # patient-payment | provider-adjustment
    payer_id: str  # the PLB's payer; "" for the patient
    amount_cents: int


PATIENT_PAYMENT = "patient-payment"
PROVIDER_ADJUSTMENT = "provider-adjustment"


@dataclass(frozen=True, slots=True)
class PayerBalance:
    payer_id: str
    billed_cents: int
    paid_cents: int
    adjusted_cents: int
    patient_responsibility_cents: int
    balance_cents: int
    answered: bool


@dataclass(frozen=True, slots=True)
class ClaimBalance:
    charge_cents: int
    payers: tuple[PayerBalance, ...]
    patient_responsibility_cents: int
    patient_paid_cents: int
    patient_balance_cents: int
    balance_cents: int


def claim_balance(
    charge_cents: int, *, primary_payer: str | None, posted: Sequence[Posted], entries: Sequence[LedgerEntry] = ()
) -> ClaimBalance:
    """The balances of one claim (``posted`` in arrival order; uncounted repeats are ignored)."""
    counted = [p for p in posted if p.counted]
    order = payer_order(primary_payer, counted, None)
    if not order and primary_payer:
        order = [primary_payer]  # nobody answered yet: the claim's payer owes the charge
    plb: dict[str, int] = {}
    for e in entries:
        if e.kind == PROVIDER_ADJUSTMENT:
            plb[e.payer_id] = plb.get(e.payer_id, 0) + e.amount_cents
    payers: list[PayerBalance] = []
    billed = charge_cents
    patient_share = 0
    for payer in order:
        mine = [p for p in counted if p.payer_id == payer]
        paid = sum(p.paid_cents for p in mine) + plb.get(payer, 0)
        adjusted = sum(p.contractual_cents for p in mine)
        share = sum(p.patient_responsibility_cents for p in mine)
        payers.append(PayerBalance(payer, billed, paid, adjusted, share, billed - paid - adjusted - share, bool(mine)))
        if mine:
            patient_share = share
            billed = share
    patient_paid = sum(e.amount_cents for e in entries if e.kind == PATIENT_PAYMENT)
    patient_balance = patient_share - patient_paid
    return ClaimBalance(
        charge_cents=charge_cents,
        payers=tuple(payers),
        patient_responsibility_cents=patient_share,
        patient_paid_cents=patient_paid,
        patient_balance_cents=patient_balance,
        balance_cents=sum(p.balance_cents for p in payers) + patient_balance,
    )
