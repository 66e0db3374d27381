"""Revenue-cycle KPIs from a hand-built book; every expected number is worked out in the comments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from billing_factories import X12_FIXTURES

from app.billing import (
    Acknowledgement,
    Adjudication,
    Payment,
    RevenueBook,
    SubmittedClaim,
    adjudication_from_835,
    compute_kpis,
    kpi_table,
)
from app.x12 import read_835

A, B = "60054", "01112"
OCT = (date(2026, 10, 1), date(2026, 10, 31))


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


def acks(claim_id: str, day: date, *, ok_999: bool = True, ok_277: bool = True) -> list[Acknowledgement]:
    return [Acknowledgement(claim_id, "999", ok_999, day), Acknowledgement(claim_id, "277CA", ok_277, day)]


def book() -> RevenueBook:
    claims = [
        SubmittedClaim("c1", A, d(10, 1), d(10, 3), Decimal(100), encounter_closed_on=d(10, 1)),
        SubmittedClaim("c2", A, d(10, 2), d(10, 6), Decimal(200), encounter_closed_on=d(10, 2), resubmissions=1),
        SubmittedClaim("c3", B, d(10, 5), d(10, 8), Decimal(300), encounter_closed_on=d(10, 6)),
        SubmittedClaim("c4", B, d(6, 1), d(6, 5), Decimal(400)),
        SubmittedClaim("c5", A, d(10, 30), d(11, 2), Decimal(120), encounter_closed_on=d(10, 31)),
        SubmittedClaim("c6", A, d(10, 10), d(10, 12), Decimal(50), encounter_closed_on=d(10, 10)),
        SubmittedClaim("c7", B, d(9, 15), d(9, 20), Decimal(250)),
    ]
    acknowledgements = [
        *acks("c1", d(10, 4)),
        *acks("c2", d(10, 7), ok_277=False),
        *acks("c3", d(10, 9)),
        *acks("c6", d(10, 13)),
        *acks("c7", d(9, 21)),
    ]
    adjudications = [
        Adjudication("c1", d(10, 20), contractual=Decimal(20)),
        Adjudication("c2", d(10, 25), denied=True, denied_amount=Decimal(200), denial_categories=("coding",)),
        Adjudication("c4", d(7, 1), contractual=Decimal(100), denied=True, denied_amount=Decimal(50),
                     denial_categories=("prior-auth",)),
        Adjudication("c6", d(10, 28), denied=True, denied_amount=Decimal(50),
                     denial_categories=("coding", "prior-auth")),
        Adjudication("c7", d(10, 5), contractual=Decimal(50)),
    ]  # fmt: skip
    payments = [
        Payment("c1", d(10, 20), Decimal(70)),
        Payment("c1", d(10, 25), Decimal(10)),  # patient copay
        Payment("c4", d(7, 1), Decimal(200)),
        Payment("c6", d(11, 15), Decimal(50)),  # after the October snapshot
        Payment("c7", d(10, 5), Decimal(200)),
    ]
    return RevenueBook(claims, acknowledgements, adjudications, payments)


def test_clean_claim_rate_and_days_to_submit() -> None:
    k = compute_kpis(book(), start=OCT[0], end=OCT[1]).submission
    # submitted in October: c1 c2 c3 c6 (c5 is November), all with a first answer (c3: its 277CA acceptance);
    # clean: c1, c3, c6 (c2 resubmitted after a 277CA rejection)
    assert (k.claims_submitted, k.clean_claims, k.claims_pending) == (4, 3, 0)
    assert k.clean_claim_rate == 0.75
    assert k.days_to_submit == 2.5  # (2 + 4 + 2 + 2) / 4


def test_denial_rate_by_count_amount_and_category() -> None:
    k = compute_kpis(book(), start=OCT[0], end=OCT[1]).denials
    # adjudicated in October: c1 c2 c6 c7; denied c2 (200) and c6 (50); charges 100 + 200 + 50 + 250 = 600
    assert (k.claims_adjudicated, k.claims_denied, k.denial_rate) == (4, 2, 0.5)
    assert (k.denied_amount, k.adjudicated_charges) == (Decimal(250), Decimal(600))
    assert k.denial_rate_amount == pytest.approx(250 / 600)
    assert k.rate_by_category == {"coding": 0.5, "prior-auth": 0.25}
    assert k.amount_by_category == {"coding": Decimal(200)}  # c6 has two categories: not split


def test_receivables_days_in_ar_and_aged_share() -> None:
    k = compute_kpis(book(), start=OCT[0], end=OCT[1]).receivables
    # balances on Oct 31: c1 0, c2 200, c3 300, c4 400-200-100 = 100, c6 50 (paid later), c7 0 → 650
    assert k.open_ar == Decimal(650)
    # charges with DOS in the 90 days to Oct 31: c1 c2 c3 c6 c7 = 900 → 10 a day → 65 days
    assert k.average_daily_charges == Decimal(10) and k.days_in_ar == 65.0
    assert k.ar_over_120 == Decimal(100) and k.ar_over_120_rate == pytest.approx(100 / 650)  # c4, DOS June 1


def test_net_collection_rate_needs_its_lag() -> None:
    early = compute_kpis(book(), start=OCT[0], end=OCT[1]).collections
    # DOS in October known on Oct 31: c1 c2 c3 c6 = 650 charges − 20 contractual; paid 80 (c1)
    assert (early.payments, early.net_charges, early.mature) == (Decimal(80), Decimal(630), False)
    assert early.net_collection_rate == pytest.approx(80 / 630)
    late = compute_kpis(book(), start=OCT[0], end=OCT[1], as_of=d(2, 1, 2027)).collections
    # c5 (submitted Nov 2) joins; c6's payment arrives: 130 ÷ (770 − 20)
    assert (late.payments, late.net_charges, late.mature) == (Decimal(130), Decimal(750), True)


def test_per_payer() -> None:
    a = compute_kpis(book(), start=OCT[0], end=OCT[1], payer_id=A)
    b = compute_kpis(book(), start=OCT[0], end=OCT[1], payer_id=B)
    assert a.submission.clean_claim_rate == pytest.approx(2 / 3) and a.denials.denial_rate == pytest.approx(2 / 3)
    assert b.submission.clean_claim_rate == 1.0 and b.denials.denial_rate == 0.0  # c3: accepted, not yet paid
    assert b.receivables.open_ar == Decimal(400) and b.receivables.ar_over_120_rate == 0.25
    assert a.receivables.open_ar + b.receivables.open_ar == Decimal(650)


def test_division_by_zero_gives_none() -> None:
    k = compute_kpis(RevenueBook([]), start=OCT[0], end=OCT[1])
    assert k.submission.clean_claim_rate is None and k.submission.days_to_submit is None
    assert k.denials.denial_rate is None and k.denials.denial_rate_amount is None
    assert k.receivables.days_in_ar is None and k.receivables.ar_over_120_rate is None
    assert k.collections.net_collection_rate is None
    fully_paid = RevenueBook(
        [SubmittedClaim("x", A, d(10, 1), d(10, 2), Decimal(10))], payments=[Payment("x", d(10, 9), Decimal(10))]
    )
    receivables = compute_kpis(fully_paid, start=OCT[0], end=OCT[1]).receivables
    assert receivables.open_ar == 0 and receivables.ar_over_120_rate is None and receivables.days_in_ar == 0.0


def test_period_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before its start"):
        compute_kpis(book(), start=OCT[1], end=OCT[0])


def test_kpi_table_rows_per_period_and_payer() -> None:
    rows = kpi_table(book(), periods=[(d(9, 1), d(9, 30)), OCT])
    assert [(r.start.month, r.payer_id) for r in rows] == [(9, None), (9, B), (9, A), (10, None), (10, B), (10, A)]
    september = rows[0]
    assert september.as_of == d(9, 30) and september.submission.claims_submitted == 1  # c7


def test_adjudication_from_a_real_835() -> None:
    remit = read_835((X12_FIXTURES / "edi-835-parser" / "835_emedny_sample.txt").read_text())
    rows = [
        adjudication_from_835(c, claim_id=f"c{i}", adjudicated_on=d(1, 1, 2010)) for i, c in enumerate(remit.claims)
    ]
    assert [(r.denied, r.denied_amount, r.denial_categories) for r in rows] == [
        (False, Decimal(0), ()),
        (True, Decimal(34), ("timely-filing",)),
        (True, Decimal("22.75"), ("documentation",)),
    ]
    uhc = read_835((X12_FIXTURES / "edi-835-parser" / "835_united_healthcare_legacy_sample.txt").read_text())
    first = adjudication_from_835(uhc.claims[0], claim_id="u", adjudicated_on=d(1, 1, 2020))
    assert first.contractual == Decimal("147.1") and not first.denied  # CO-45 67.50 + 79.60


def test_clean_claim_rate_counts_only_claims_with_a_first_answer() -> None:
    claims = [
        SubmittedClaim("waiting", A, d(10, 1), d(10, 2), Decimal(100)),  # no answer at all yet
        SubmittedClaim("only-999", A, d(10, 1), d(10, 2), Decimal(100)),  # 999 accepted: not yet the payer's answer
        SubmittedClaim("paid", A, d(10, 1), d(10, 2), Decimal(100)),  # 835 without 999/277CA on file
        SubmittedClaim("rejected", A, d(10, 1), d(10, 2), Decimal(100)),  # 999 rejection is an answer
        SubmittedClaim("overridden", A, d(10, 1), d(10, 2), Decimal(100), manual_intervention=True),
    ]
    book = RevenueBook(
        claims,
        [
            Acknowledgement("only-999", "999", True, d(10, 3)),
            Acknowledgement("rejected", "999", False, d(10, 3)),
            *acks("overridden", d(10, 3)),
        ],
        [Adjudication("paid", d(10, 20))],
    )
    k = compute_kpis(book, start=OCT[0], end=OCT[1]).submission
    assert (k.claims_submitted, k.claims_pending, k.clean_claims) == (5, 2, 1)
    assert k.clean_claim_rate == pytest.approx(1 / 3)  # paid ÷ (paid, rejected, overridden)


def test_net_collection_rate_counts_patient_payments_and_claim_plb() -> None:
    claims = [SubmittedClaim("c", A, d(10, 1), d(10, 2), Decimal(100))]
    payments = [
        Payment("c", d(10, 20), Decimal(50)),
        Payment("c", d(10, 25), Decimal(10), source="patient-payment"),
        Payment("c", d(10, 28), Decimal(-5), source="provider-adjustment"),  # PLB recoupment naming the claim
    ]
    book = RevenueBook(claims, adjudications=[Adjudication("c", d(10, 20), contractual=Decimal(40))], payments=payments)
    k = compute_kpis(book, start=OCT[0], end=OCT[1])
    assert k.collections.payments == Decimal(55) and k.collections.net_collection_rate == pytest.approx(55 / 60)
    assert k.receivables.open_ar == Decimal(5)
