"""Denial management (pure): which 835 adjustments are denials, their categories, the denial queue.

A **denial** (billing-domain.md §3) is an 835 line or claim adjusted to $0 paid by a reason other
than the contractual ones (45, 253, the retired 42 / A2, and CO-24 capitation), the patient's
cost-share (PR 1, 2, 3, 66) and the prior payer's adjudication on a secondary (CO/OA-23). A PR
reason that is not cost-share (PR-27 coverage ended, PR-204 not covered, PR-96 non-covered) is a
denial the patient is liable for. A line denial needs the line paid $0 (SVC03 = 0); a claim-level
denial needs the claim denied (CLP02 = 4) or paid $0. Reversals (CLP02 = 22) and "not our claim,
forwarded" answers (CLP02 = 23) are never denials. Each denial's category comes from
:func:`app.x12.category_for_carc` (``None`` for an unlisted CARC; the queue files those under
``"other"``), refined by the remark codes (RARCs) of the line and claim for a generic CARC such as
16 (:func:`app.x12.carc.refine_with_rarcs`).

The queue (:func:`build_denial_queue`) has one entry per claim and category, linked to the claim id,
the payer, the claim's related findings and its documentation references. ``scrubbing`` says whether
claimbridge's rules could have caught it: ``flagged`` (a rule whose ``carc_expected`` lists one of
the entry's CARCs fired on the claim), ``passed`` (such rules exist but none fired: the denial
*passed scrubbing*), or ``not-covered`` (no rule expects these CARCs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from app.domain.findings import Category, Finding
from app.rules import RuleSpec, all_rules
from app.x12 import Adjustment, ClaimPayment, category_for_carc
from app.x12.carc import NOT_A_DENIAL, refine_with_rarcs

DENIAL_GROUPS = frozenset({"CO", "OA", "PI", "PR"})
DENIED_STATUS = "4"
REVERSAL_STATUS = "22"
FORWARDED_STATUS = "23"  # not our claim, forwarded to another payer: no adjudication
NO_ADJUDICATION = frozenset({REVERSAL_STATUS, FORWARDED_STATUS})
OTHER = "other"
ScrubOutcome = Literal["flagged", "passed", "not-covered"]


@dataclass(frozen=True, slots=True)
class Denial:
    """One denial reason: ``line`` is the index in ``ClaimPayment.lines`` (``None``: claim level)."""

    line: int | None
    procedure: str
    group: str
    reason: str
    category: Category | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class DenialDecision:
    patient_control_number: str
    whole_claim: bool  # the claim itself was denied or paid nothing
    denials: tuple[Denial, ...]

    @property
    def denied(self) -> bool:
        return bool(self.denials)

    @property
    def denied_amount(self) -> Decimal:
        return sum((d.amount for d in self.denials), Decimal(0))

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(sorted({d.category.value if d.category else OTHER for d in self.denials}))


def is_denial_reason(group: str, reason: str) -> bool:
    """Whether an adjustment reason can make a $0 payment a denial (not contractual, cost-share or prior payer)."""
    return group.strip().upper() in DENIAL_GROUPS and reason.strip().upper() not in NOT_A_DENIAL


def _denials(
    adjustments: Iterable[Adjustment], line: int | None, procedure: str, remarks: Sequence[str]
) -> list[Denial]:
    return [
        Denial(
            line,
            procedure,
            a.group,
            a.reason,
            refine_with_rarcs(category_for_carc(a.group, a.reason), a.reason, remarks),
            a.amount or Decimal(0),
        )
        for a in adjustments
        if is_denial_reason(a.group, a.reason)
    ]


def classify_claim_payment(claim: ClaimPayment) -> DenialDecision:
    """The denials in one 835 claim payment (claim-level and line-level)."""
    if claim.status in NO_ADJUDICATION:
        return DenialDecision(claim.patient_control_number, False, ())
    found: list[Denial] = []
    claim_remarks = list(claim.remark_codes)
    for i, line in enumerate(claim.lines):
        if line.paid is not None and line.paid == 0:
            found += _denials(line.adjustments, i, line.procedure, [*line.remark_codes, *claim_remarks])
    whole = claim.status == DENIED_STATUS or (claim.paid is not None and claim.paid == 0)
    if whole:
        found += _denials(claim.adjustments, None, "", claim_remarks)
    return DenialDecision(claim.patient_control_number, whole and bool(found), tuple(found))


@dataclass(frozen=True, slots=True)
class RemittedClaim:
    """One 835 claim joined (by the caller) to our claim id, payer, findings and documentation."""

    payment: ClaimPayment
    claim_id: str
    payer_id: str
    findings: tuple[Finding, ...] = ()
    documentation: tuple[str, ...] = ()  # references, e.g. "DocumentReference/note-001"


@dataclass(frozen=True, slots=True)
class DenialQueueEntry:
    claim_id: str
    patient_control_number: str
    payer_id: str
    category: str  # a Category value, or "other"
    carcs: tuple[str, ...]  # "CO-197", ...
    remark_codes: tuple[str, ...]
    amount: Decimal
    lines: tuple[int | None, ...]
    whole_claim: bool
    scrubbing: ScrubOutcome
    expected_by: tuple[str, ...]  # rule ids whose carc_expected lists one of the CARCs
    findings: tuple[Finding, ...]  # the claim's findings from those rules or of this category
    documentation: tuple[str, ...]

    @property
    def passed_scrubbing(self) -> bool:
        return self.scrubbing == "passed"


def carc_index(rules: Iterable[RuleSpec]) -> dict[str, tuple[str, ...]]:
    """CARC → ids of the rules that expect (prevent) it."""
    index: dict[str, list[str]] = defaultdict(list)
    for rule in rules:
        for code in rule.carc_expected:
            index[code].append(rule.id)
    return {code: tuple(sorted(ids)) for code, ids in index.items()}


def _scrubbing(expected: set[str], fired: set[str]) -> ScrubOutcome:
    if not expected:
        return "not-covered"
    return "flagged" if expected & fired else "passed"


def _entry(
    item: RemittedClaim,
    decision: DenialDecision,
    category: str,
    denials: list[Denial],
    index: Mapping[str, tuple[str, ...]],
) -> DenialQueueEntry:
    expected = {rule for d in denials for rule in index.get(d.reason, ())}
    fired = {f.rule for f in item.findings}
    related = tuple(f for f in item.findings if f.rule in expected or f.category.value == category)
    lines = item.payment.lines
    remarks = {
        *item.payment.remark_codes,
        *(r for d in denials if d.line is not None for r in lines[d.line].remark_codes),
    }
    return DenialQueueEntry(
        claim_id=item.claim_id,
        patient_control_number=decision.patient_control_number,
        payer_id=item.payer_id,
        category=category,
        carcs=tuple(sorted({f"{d.group}-{d.reason}" for d in denials})),
        remark_codes=tuple(sorted(remarks)),
        amount=sum((d.amount for d in denials), Decimal(0)),
        lines=tuple(sorted({d.line for d in denials}, key=lambda n: -1 if n is None else n)),
        whole_claim=decision.whole_claim,
        scrubbing=_scrubbing(expected, fired),
        expected_by=tuple(sorted(expected)),
        findings=related,
        documentation=item.documentation,
    )


def build_denial_queue(
    claims: Iterable[RemittedClaim], *, rules: Sequence[RuleSpec] | None = None
) -> list[DenialQueueEntry]:
    """One queue entry per denied claim and category, sorted by category, payer, amount (largest first)."""
    index = carc_index(all_rules() if rules is None else rules)
    entries: list[DenialQueueEntry] = []
    for item in claims:
        decision = classify_claim_payment(item.payment)
        by_category: dict[str, list[Denial]] = defaultdict(list)
        for d in decision.denials:
            by_category[d.category.value if d.category else OTHER].append(d)
        entries += [_entry(item, decision, cat, ds, index) for cat, ds in sorted(by_category.items())]
    return sorted(entries, key=lambda e: (e.category, e.payer_id, -e.amount, e.claim_id))


def group_queue(entries: Iterable[DenialQueueEntry]) -> dict[tuple[str, str], list[DenialQueueEntry]]:
    """Queue entries by (category, payer id), for work queues and trend tables."""
    grouped: dict[tuple[str, str], list[DenialQueueEntry]] = defaultdict(list)
    for entry in entries:
        grouped[(entry.category, entry.payer_id)].append(entry)
    return dict(grouped)
