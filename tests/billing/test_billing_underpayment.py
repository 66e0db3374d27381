"""Expected vs actual allowed per line: modifiers, multiple-procedure reduction, tolerances, sequestration."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from billing_factories import CONFIG, X12_FIXTURES, adj, line, payment

from app.billing import actual_allowed, check_underpayment
from app.config.clearinghouse import UnderpaymentPolicy, load_clearinghouse
from app.x12 import read_835

POLICY = UnderpaymentPolicy()  # $1 and 2 %; 26 40 %, TC 60 %, 50 150 %; MPPR 100/50 on 10004-69990
ALLOWED = {"99213": 92.40, "20610": 70.00, "11042": 120.00, "73030": 40.00, "73030-26": 12.50, "36415": 3.00}


def judge(*lines, allowed=ALLOWED, policy=POLICY):  # type: ignore[no-untyped-def]
    return check_underpayment(payment("P1", *lines), payer_id="60054", allowed=allowed, policy=policy)


def test_paid_at_contract_rate_does_not_alert() -> None:
    (check,) = judge(line("99213", 150, "73.92", adj("PR", "2", "18.48"), adj("CO", "45", "57.60"))).lines
    assert (check.expected, check.actual, check.alert) == (Decimal("92.40"), Decimal("92.40"), False)


def test_short_payment_alerts_with_its_shortfall() -> None:
    report = judge(line("99213", 150, 70, adj("PR", "2", 10), adj("CO", "45", 70)))
    (check,) = report.alerts
    assert check.shortfall == Decimal("12.40") and report.shortfall == Decimal("12.40")
    assert check.basis == ("contract 99213 92.4 x 1 unit(s)",)


def test_allowed_amount_segment_wins_over_paid_plus_patient_share() -> None:
    payment_line = line("99213", 150, 60, adj("PR", "2", 10), allowed="92.40")
    assert actual_allowed(payment_line) == Decimal("92.40")
    assert not judge(payment_line).alerts


def test_sequestration_is_added_back_not_an_underpayment() -> None:
    # allowed 92.40: payer share 73.92 minus 2 % sequestration (1.48) paid, patient 18.48
    paid = line("99213", 150, "72.44", adj("CO", "253", "1.48"), adj("PR", "2", "18.48"), adj("CO", "45", "57.60"))
    (check,) = judge(paid).lines
    assert check.actual == Decimal("92.40") and not check.alert


def test_units_multiply_the_rate() -> None:
    (check,) = judge(line("36415", 20, 6, units=2)).lines
    assert check.expected == Decimal("6.00") and not check.alert
    (short,) = judge(line("36415", 30, 3, units=3)).lines
    assert short.expected == Decimal("9.00") and short.alert


@pytest.mark.parametrize(
    ("modifiers", "expected", "basis"),
    [
        (("TC",), Decimal("24.00"), "modifier TC: 60%"),
        (("26",), Decimal("12.50"), "contract 73030-26 12.5 x 1 unit(s)"),  # a contracted rate wins over 40 %
        (("50",), Decimal("60.00"), "modifier 50: 150%"),
        (("RT",), Decimal("40.00"), "contract 73030 40.0 x 1 unit(s)"),  # not a payment modifier
    ],
)
def test_payment_modifiers(modifiers: tuple[str, ...], expected: Decimal, basis: str) -> None:
    (check,) = judge(line("73030", 80, 0, adj("PR", "1", 1), modifiers=modifiers)).lines
    assert check.expected == expected and basis in check.basis


def test_professional_component_percentage_when_no_contracted_rate() -> None:
    (check,) = judge(line("73030", 80, 16, modifiers=("26",)), allowed={"73030": 40.0}).lines
    assert check.expected == Decimal("16.00") and "modifier 26: 40%" in check.basis and not check.alert


def test_multiple_procedure_reduction_ranks_by_expected_amount() -> None:
    report = judge(
        line("20610", 100, 35),  # lower rate: secondary, 50 % of 70 = 35
        line("11042", 200, 120),  # highest: primary 100 %
        line("99213", 150, "92.40"),  # not in the reduction's code ranges
        line("20610", 100, 70, service_date="20261006"),  # another day: alone, 100 %
    )
    assert [c.expected for c in report.lines] == [
        Decimal("35.00"),
        Decimal("120.00"),
        Decimal("92.40"),
        Decimal("70.00"),
    ]
    assert "multiple procedure: secondary 50%" in report.lines[0].basis
    assert "multiple procedure: primary 100%" in report.lines[1].basis
    assert not report.alerts


def test_payer_policy_can_change_the_reduction() -> None:
    policy = replace(POLICY, mppr_others_percent=Decimal(25))
    report = judge(line("20610", 100, 35), line("11042", 200, 120), policy=policy)
    assert report.lines[0].expected == Decimal("17.50") and not report.alerts


@pytest.mark.parametrize(
    ("actual", "alert"),
    [
        ("91.40", False),  # $1.00 short: at the absolute tolerance
        ("90.56", False),  # $1.84 short: above $1 but within 2 % of 92.40 (1.848)
        ("90.55", True),  # $1.85 short: above both
    ],
)
def test_tolerance_needs_both_absolute_and_percent(actual: str, alert: bool) -> None:
    (check,) = judge(line("99213", 150, actual)).lines
    assert check.alert is alert


def test_lines_that_cannot_be_judged_never_alert() -> None:
    report = judge(
        line("99213", 150, 0, adj("CO", "197", 150)),
        line("99999", 50, 10),
        line("99213", 150, None),
    )
    assert [c.note for c in report.lines] == [
        "denied (see the denial queue)",
        "no contracted allowed amount for 99999",
        "no paid amount (SVC03) to compare",
    ]
    assert not report.alerts


def test_recoded_line_is_priced_at_the_billed_code() -> None:
    (check,) = judge(line("99212", 150, 60, adj("PR", "2", 10), original="99213")).lines
    assert check.procedure == "99213" and check.expected == Decimal("92.40") and check.alert


def test_reversal_and_lineless_claims_are_not_judged() -> None:
    reversal = check_underpayment(
        payment("R", line("99213", 150, -50), status="22"), payer_id="x", allowed=ALLOWED, policy=POLICY
    )
    assert reversal.lines == () and "reversal" in reversal.note
    empty = check_underpayment(payment("E", paid=10), payer_id="x", allowed=ALLOWED, policy=POLICY)
    assert empty.lines == () and "no service lines" in empty.note


def test_real_835_sample_against_a_synthetic_contract() -> None:
    remit = read_835((X12_FIXTURES / "edi-835-parser" / "835_united_healthcare_legacy_sample.txt").read_text())
    contract = {"B4152": 0.38, "B4154": 0.82, "B4034": 2.32}  # per unit; the sample's lines have 12-277 units

    def alerts(policy: UnderpaymentPolicy) -> list[tuple[str, str, Decimal, Decimal | None]]:
        reports = [check_underpayment(c, payer_id="87726", allowed=contract, policy=policy) for c in remit.claims]
        return [(r.patient_control_number, a.procedure, a.expected, a.actual) for r in reports for a in r.alerts]

    # the last B4154 line was allowed at 0.81 a unit: 178 x 0.82 = 145.96 vs 144.18, $1.78 short (1.2 %)
    assert alerts(load_clearinghouse(CONFIG).policy_for("87726")) == []
    strict = replace(POLICY, tolerance_percent=Decimal(1))
    assert alerts(strict) == [("001-18604-358", "B4154", Decimal("145.96"), Decimal("144.18"))]
