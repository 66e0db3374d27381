"""How one 835 claim payment is posted against what the claim already has (pure).

Each 835 claim payment is stored, but its money counts **exactly once**:

- A **repeat** (the same payer, CLP02, payer claim control number, charge and paid amount as an answer
  already counted for the claim, e.g. a re-sent 835 with a new envelope) is stored with
  ``counted=False``: no posting, no queues.
- A **reversal** (CLP02 22) is paired with the counted original it takes back: the latest counted,
  not yet reversed answer of the same payer with the same payer claim control number (else the same
  amount, negated). It posts the exact negatives of the original's payment, contractual adjustment
  and patient responsibility, so the original and its reversal cancel to the cent; the correction
  that follows posts as a normal answer. A second reversal of an already reversed original is a
  repeat. A reversal with no original on file posts its own (negative) amounts.
- A **later payer's** answer (a secondary, attributed to the 835's N1*PR payer) is billed what the
  previous payer left to the patient. What it neither pays nor leaves to the patient is its
  adjustment (``contractual``): the prior payer's share (CO/OA-23) and the secondary's own
  allowance together, never counting the primary's contractual twice. A denied secondary answer
  closes nothing: the amount stays open with that payer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

REVERSAL = "22"
FORWARDED = "23"


@dataclass(frozen=True, slots=True)
class Posted:
    """An answer already stored for the claim (integer cents)."""

    id: int
    payer_id: str
    status: str
    payer_claim_control_number: str
    charge_cents: int | None
    paid_cents: int
    contractual_cents: int
    patient_responsibility_cents: int
    denied: bool
    counted: bool
    reverses_id: int | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    payer_id: str
    status: str
    payer_claim_control_number: str
    charge_cents: int | None
    paid_cents: int
    contractual_cents: int
    patient_responsibility_cents: int
    denied: bool


@dataclass(frozen=True, slots=True)
class PostingPlan:
    counted: bool
    reverses_id: int | None
    paid_cents: int  # what is posted (0 when not counted)
    contractual_cents: int
    patient_responsibility_cents: int
    primary: bool  # the claim's first payer (underpayment checks apply)

    @property
    def repeat(self) -> bool:
        return not self.counted


def payer_order(primary: str | None, previous: Sequence[Posted], current: str | None) -> list[str]:
    """Payers in the order they answered (counted answers, then ``current``); the claim's payer first
    when it answered at all. A claim whose own payer never answered is the first answering payer's
    (e.g. a payer known under another id): it is not made a secondary of a payer with nothing posted."""
    answered = [p.payer_id for p in previous if p.counted]
    if current is not None:
        answered.append(current)
    order: list[str] = [primary] if primary and primary in answered else []
    for payer in answered:
        if payer not in order:
            order.append(payer)
    return order


def _is_repeat(incoming: Incoming, previous: Sequence[Posted]) -> bool:
    if not incoming.payer_claim_control_number:
        return False
    return any(
        p.counted
        and p.payer_id == incoming.payer_id
        and p.status == incoming.status
        and p.payer_claim_control_number == incoming.payer_claim_control_number
        and p.charge_cents == incoming.charge_cents
        and p.paid_cents == incoming.paid_cents
        for p in previous
    )


def _original(incoming: Incoming, previous: Sequence[Posted]) -> tuple[Posted | None, bool]:
    """The original a reversal pairs with, and whether that original was already reversed."""
    reversed_ids = {p.reverses_id for p in previous if p.counted and p.reverses_id is not None}
    candidates = [p for p in previous if p.counted and p.payer_id == incoming.payer_id and p.status != REVERSAL]
    icn = incoming.payer_claim_control_number
    same = [p for p in candidates if icn and p.payer_claim_control_number == icn]
    if not same:
        same = [p for p in candidates if p.paid_cents == -incoming.paid_cents]
    open_ = [p for p in same if p.id not in reversed_ids]
    if open_:
        return open_[-1], False
    return (same[-1], True) if same else (None, False)


def _net_patient_share(payer: str, previous: Sequence[Posted]) -> int:
    return sum(p.patient_responsibility_cents for p in previous if p.counted and p.payer_id == payer)


def plan_posting(incoming: Incoming, previous: Sequence[Posted], *, primary_payer: str | None) -> PostingPlan:
    """What posting ``incoming`` does, given the claim's earlier answers (in arrival order)."""
    order = payer_order(primary_payer, previous, incoming.payer_id)
    first = order[0] == incoming.payer_id
    if _is_repeat(incoming, previous):
        return PostingPlan(False, None, 0, 0, 0, first)
    if incoming.status == REVERSAL:
        original, already = _original(incoming, previous)
        if already:
            return PostingPlan(False, None, 0, 0, 0, first)
        if original is not None:
            return PostingPlan(
                True,
                original.id,
                -original.paid_cents,
                -original.contractual_cents,
                -original.patient_responsibility_cents,
                first,
            )
        return PostingPlan(
            True, None, incoming.paid_cents, incoming.contractual_cents, incoming.patient_responsibility_cents, first
        )
    if incoming.status == FORWARDED:
        return PostingPlan(True, None, incoming.paid_cents, 0, 0, first)
    contractual = incoming.contractual_cents
    if not first:
        prior = order[order.index(incoming.payer_id) - 1]
        billed = _net_patient_share(prior, previous)
        answered_before = sum(
            p.paid_cents + p.contractual_cents for p in previous if p.counted and p.payer_id == incoming.payer_id
        )
        if incoming.denied:
            contractual = 0
        else:
            contractual = billed - answered_before - incoming.paid_cents - incoming.patient_responsibility_cents
            contractual += _net_patient_share(incoming.payer_id, previous)
    return PostingPlan(True, None, incoming.paid_cents, contractual, incoming.patient_responsibility_cents, first)
