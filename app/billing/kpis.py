"""Revenue-cycle KPIs (pure) from a :class:`~app.billing.records.RevenueBook`, per period and payer.

Formulas (billing-domain.md §3), for the period ``[start, end]`` and a snapshot date ``as_of``
(default ``end``; records dated after ``as_of`` are ignored everywhere):

- **clean claim rate** (HFMA/MGMA) = claims accepted on their first submission without manual
  intervention ÷ claims first submitted in the period that have a first answer. A first answer is a
  rejection (999 or 277CA), a 277CA acceptance or an 835 adjudication; claims still waiting for one
  are ``claims_pending`` and left out of the ratio. Clean: no rejection, no resubmission (corrected
  or replacement claim), and no manual intervention (a finding overridden, or a hold acknowledged,
  before it went out). A denial is still a clean claim (the denial rate counts it).
- **denial rate** = claims with ≥ 1 denial ÷ claims adjudicated in the period (count), and denied $ ÷
  charges of those claims ($); by category: claims with a denial of that category ÷ claims adjudicated.
- **days in A/R** = open A/R ÷ (charges with a date of service in the 90 days up to ``as_of`` ÷ 90).
  Open balance of a claim = charge − payments − contractual − written off (credits count as
  negative balances). Only claims submitted by ``as_of`` are receivables.
- **net collection rate** = payments ÷ (charges − contractual), over claims with a date of service in
  the period, with payments and adjustments posted up to ``as_of``. Payments are every payer's
  (reversals negative), the patients' (API and imports), and the 835 provider-level adjustments
  that name the claim (a recoupment is negative). It needs about 90 days of lag to
  mean anything: ``collection_mature`` is true when ``as_of`` ≥ ``end`` + 90 days.
- **A/R over 120 days** = open balance of claims whose date of service is more than 120 days before
  ``as_of`` ÷ open A/R.
- **days to submit** = mean(first submission − encounter close) over the period's submitted claims
  that have a close date.

Every ratio is ``None`` when its denominator is zero (or, for A/R ratios, not positive); so is the mean
of nothing. Adjudications, acknowledgements and payments whose claim is not in the book are ignored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from app.billing.records import Acknowledgement, Adjudication, Payment, RevenueBook, SubmittedClaim

AR_WINDOW_DAYS = 90
AGED_DAYS = 120
COLLECTION_LAG_DAYS = 90
R = TypeVar("R", Acknowledgement, Adjudication, Payment)


@dataclass(frozen=True, slots=True)
class SubmissionKpis:
    claims_submitted: int
    clean_claims: int
    claims_pending: int  # submitted in the period, no first answer yet
    clean_claim_rate: float | None  # clean ÷ claims with a first answer
    days_to_submit: float | None


@dataclass(frozen=True, slots=True)
class DenialKpis:
    claims_adjudicated: int
    claims_denied: int
    denial_rate: float | None
    denied_amount: Decimal
    adjudicated_charges: Decimal
    denial_rate_amount: float | None
    rate_by_category: dict[str, float]
    amount_by_category: dict[str, Decimal]  # adjudications with a single category only


@dataclass(frozen=True, slots=True)
class ReceivableKpis:
    open_ar: Decimal
    average_daily_charges: Decimal | None
    days_in_ar: float | None
    ar_over_120: Decimal
    ar_over_120_rate: float | None


@dataclass(frozen=True, slots=True)
class CollectionKpis:
    payments: Decimal
    net_charges: Decimal
    net_collection_rate: float | None
    mature: bool  # as_of is at least 90 days after the period end


@dataclass(frozen=True, slots=True)
class Kpis:
    start: date
    end: date
    as_of: date
    payer_id: str | None  # None: every payer
    submission: SubmissionKpis
    denials: DenialKpis
    receivables: ReceivableKpis
    collections: CollectionKpis


def _ratio(numerator: Decimal | int, denominator: Decimal | int) -> float | None:
    return float(Decimal(numerator) / Decimal(denominator)) if denominator else None


def _by_claim(items: Iterable[R], keep: set[str]) -> dict[str, list[R]]:
    out: dict[str, list[R]] = defaultdict(list)
    for item in items:
        if item.claim_id in keep:
            out[item.claim_id].append(item)
    return out


@dataclass(frozen=True)
class _View:
    """The book restricted to one payer and to what was known on ``as_of``."""

    claims: dict[str, SubmittedClaim]
    acks: dict[str, list[Acknowledgement]]
    adjudications: dict[str, list[Adjudication]]
    payments: dict[str, list[Payment]]

    @classmethod
    def of(cls, book: RevenueBook, *, payer_id: str | None, as_of: date) -> _View:
        claims = {
            c.claim_id: c
            for c in book.claims
            if c.submitted_on <= as_of and (payer_id is None or c.payer_id == payer_id)
        }
        keep = set(claims)
        return cls(
            claims,
            _by_claim((a for a in book.acknowledgements if a.received_on <= as_of), keep),
            _by_claim((a for a in book.adjudications if a.adjudicated_on <= as_of), keep),
            _by_claim((p for p in book.payments if p.received_on <= as_of), keep),
        )

    def balance(self, claim: SubmittedClaim) -> Decimal:
        paid = sum((p.amount for p in self.payments.get(claim.claim_id, ())), Decimal(0))
        adjusted = sum((a.contractual + a.written_off for a in self.adjudications.get(claim.claim_id, ())), Decimal(0))
        return claim.charge - paid - adjusted


def _answered(view: _View, claim: SubmittedClaim) -> bool:
    """Whether the claim's first submission has an answer: a rejection, a 277CA acceptance or an 835."""
    acks = view.acks.get(claim.claim_id, [])
    decided = any(not a.accepted or a.kind == "277CA" for a in acks)
    return decided or bool(view.adjudications.get(claim.claim_id))


def _is_clean(view: _View, claim: SubmittedClaim) -> bool:
    acks = view.acks.get(claim.claim_id, [])
    return claim.resubmissions == 0 and not claim.manual_intervention and all(a.accepted for a in acks)


def _submission_kpis(view: _View, start: date, end: date) -> SubmissionKpis:
    cohort = [c for c in view.claims.values() if start <= c.submitted_on <= end]
    answered = [c for c in cohort if _answered(view, c)]
    clean = sum(1 for c in answered if _is_clean(view, c))
    waits = [(c.submitted_on - c.encounter_closed_on).days for c in cohort if c.encounter_closed_on is not None]
    return SubmissionKpis(
        claims_submitted=len(cohort),
        clean_claims=clean,
        claims_pending=len(cohort) - len(answered),
        clean_claim_rate=_ratio(clean, len(answered)),
        days_to_submit=sum(waits) / len(waits) if waits else None,
    )


def _denial_kpis(view: _View, start: date, end: date) -> DenialKpis:
    in_period: dict[str, list[Adjudication]] = {}
    for claim_id, adjs in view.adjudications.items():
        inside = [a for a in adjs if start <= a.adjudicated_on <= end]
        if inside:
            in_period[claim_id] = inside
    denied = {k: [a for a in v if a.denied] for k, v in in_period.items() if any(a.denied for a in v)}
    charges = sum((view.claims[k].charge for k in in_period), Decimal(0))
    amount = sum((a.denied_amount for v in denied.values() for a in v), Decimal(0))
    by_category: dict[str, set[str]] = defaultdict(set)
    amount_by_category: dict[str, Decimal] = defaultdict(Decimal)
    for claim_id, adjs in denied.items():
        for adj in adjs:
            for category in adj.denial_categories:
                by_category[category].add(claim_id)
            if len(adj.denial_categories) == 1:
                amount_by_category[adj.denial_categories[0]] += adj.denied_amount
    return DenialKpis(
        claims_adjudicated=len(in_period),
        claims_denied=len(denied),
        denial_rate=_ratio(len(denied), len(in_period)),
        denied_amount=amount,
        adjudicated_charges=charges,
        denial_rate_amount=_ratio(amount, charges),
        rate_by_category={c: len(ids) / len(in_period) for c, ids in sorted(by_category.items())},
        amount_by_category=dict(sorted(amount_by_category.items())),
    )


def _receivable_kpis(view: _View, as_of: date) -> ReceivableKpis:
    balances = {k: view.balance(c) for k, c in view.claims.items()}
    open_ar = sum(balances.values(), Decimal(0))
    window = as_of - timedelta(days=AR_WINDOW_DAYS)
    recent = sum((c.charge for c in view.claims.values() if window < c.service_date <= as_of), Decimal(0))
    daily = recent / AR_WINDOW_DAYS if recent else None
    aged_before = as_of - timedelta(days=AGED_DAYS)
    aged = sum((balances[k] for k, c in view.claims.items() if c.service_date < aged_before), Decimal(0))
    return ReceivableKpis(
        open_ar=open_ar,
        average_daily_charges=daily,
        days_in_ar=float(open_ar / daily) if daily else None,
        ar_over_120=aged,
        ar_over_120_rate=_ratio(aged, open_ar) if open_ar > 0 else None,
    )


def _collection_kpis(view: _View, start: date, end: date, as_of: date) -> CollectionKpis:
    cohort = [c for c in view.claims.values() if start <= c.service_date <= end]
    paid = sum((p.amount for c in cohort for p in view.payments.get(c.claim_id, ())), Decimal(0))
    contractual = sum((a.contractual for c in cohort for a in view.adjudications.get(c.claim_id, ())), Decimal(0))
    net = sum((c.charge for c in cohort), Decimal(0)) - contractual
    return CollectionKpis(
        payments=paid,
        net_charges=net,
        net_collection_rate=_ratio(paid, net) if net > 0 else None,
        mature=as_of >= end + timedelta(days=COLLECTION_LAG_DAYS),
    )


def compute_kpis(
    book: RevenueBook, *, start: date, end: date, as_of: date | None = None, payer_id: str | None = None
) -> Kpis:
    """Every KPI for one period (inclusive dates), one payer or all, as known on ``as_of``."""
    if end < start:
        raise ValueError(f"period end {end} is before its start {start}")
    snapshot = as_of or end
    view = _View.of(book, payer_id=payer_id, as_of=snapshot)
    return Kpis(
        start=start,
        end=end,
        as_of=snapshot,
        payer_id=payer_id,
        submission=_submission_kpis(view, start, end),
        denials=_denial_kpis(view, start, end),
        receivables=_receivable_kpis(view, snapshot),
        collections=_collection_kpis(view, start, end, snapshot),
    )


def kpi_table(
    book: RevenueBook, *, periods: Sequence[tuple[date, date]], by_payer: bool = True, as_of: date | None = None
) -> list[Kpis]:
    """KPIs for each period, for all payers and (``by_payer``) each payer in the book, in that order.

    With ``as_of`` ``None`` each period is judged as of its own end.
    """
    payers: list[str | None] = [None]
    if by_payer:
        payers += sorted({c.payer_id for c in book.claims})
    return [
        compute_kpis(book, start=start, end=end, as_of=as_of, payer_id=payer)
        for start, end in periods
        for payer in payers
    ]


def kpi_values(kpis: Kpis) -> dict[str, float]:
    """The headline figures of one :class:`Kpis` as plain numbers (gauges); undefined ratios left out."""
    s, d, r, c = kpis.submission, kpis.denials, kpis.receivables, kpis.collections
    values: dict[str, float | Decimal | int | None] = {
        "claims_submitted": s.claims_submitted,
        "clean_claim_rate": s.clean_claim_rate,
        "days_to_submit": s.days_to_submit,
        "claims_adjudicated": d.claims_adjudicated,
        "claims_denied": d.claims_denied,
        "denial_rate": d.denial_rate,
        "denial_rate_amount": d.denial_rate_amount,
        "open_ar": r.open_ar,
        "days_in_ar": r.days_in_ar,
        "ar_over_120_rate": r.ar_over_120_rate,
        "payments": c.payments,
        "net_collection_rate": c.net_collection_rate,
    }
    return {name: float(v) for name, v in values.items() if v is not None}
