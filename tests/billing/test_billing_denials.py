"""Denial decisions (billing-domain.md §3), categories, and the denial queue with scrub outcomes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from billing_factories import X12_FIXTURES, adj, finding, line, payment

from app.billing import RemittedClaim, build_denial_queue, carc_index, classify_claim_payment, group_queue
from app.domain.findings import Category, Severity
from app.rules import all_rules
from app.x12 import read_835


@pytest.mark.parametrize(
    ("adjustments", "denied"),
    [
        ((adj("CO", "197", 120),), True),  # prior auth absent
        ((adj("OA", "18", 120),), True),  # duplicate
        ((adj("PI", "50", 120),), True),  # medical necessity, payer initiated
        ((adj("CO", "45", 120),), False),  # contractual
        ((adj("CO", "253", 2), adj("CO", "45", 118)), False),  # sequestration + contractual
        ((adj("PR", "1", 120),), False),  # deductible: the patient owes it
        ((adj("PR", "2", 20), adj("PR", "3", 100)), False),
        ((adj("PR", "96", 120),), True),  # non-covered, the patient is liable: still a denial
        ((adj("PR", "27", 120),), True),  # coverage terminated
        ((adj("PR", "204", 120),), True),  # not covered under the plan
        ((adj("PR", "66", 120),), False),  # blood deductible: cost-share
        ((adj("OA", "23", 120),), False),  # prior payer's adjudication on a $0 secondary
        ((adj("CO", "23", 120),), False),
        ((adj("CO", "24", 120),), False),  # capitation
        ((adj("CO", "A2", 120),), False),
    ],
)
def test_zero_paid_line_is_a_denial_only_for_co_oa_pi_non_contractual(adjustments: tuple, denied: bool) -> None:
    decision = classify_claim_payment(payment("P1", line("99213", 120, 0, *adjustments)))
    assert decision.denied is denied


def test_paid_line_with_denial_reason_is_not_a_denial() -> None:
    decision = classify_claim_payment(payment("P1", line("99213", 120, 30, adj("CO", "151", 90))))
    assert not decision.denied and decision.denied_amount == 0


def test_partial_denial_keeps_line_and_category() -> None:
    claim = payment(
        "P2",
        line("99214", 150, 110, adj("CO", "45", 40)),
        line("20610", 90, 0, adj("CO", "197", 90)),
        line("J1030", 20, 0, adj("CO", "16", 20)),
    )
    decision = classify_claim_payment(claim)
    assert decision.denied and not decision.whole_claim
    assert [(d.line, d.reason, d.category) for d in decision.denials] == [
        (1, "197", Category.PRIOR_AUTH),
        (2, "16", Category.MISSING_DATA),
    ]
    assert decision.denied_amount == Decimal(110) and decision.categories == ("missing-data", "prior-auth")


def test_claim_level_denial_status_4() -> None:
    claim = payment("P3", status="4", paid=0, adjustments=(adj("CO", "29", 200),))
    decision = classify_claim_payment(claim)
    assert decision.whole_claim and decision.categories == ("timely-filing",)
    assert decision.denials[0].line is None


def test_claim_level_adjustments_ignored_when_claim_paid() -> None:
    claim = payment("P4", line("99213", 100, 80), status="1", adjustments=(adj("CO", "16", 5),))
    assert not classify_claim_payment(claim).denied


def test_reversal_is_never_a_denial() -> None:
    claim = payment("P5", line("99213", 100, 0, adj("CO", "197", 100)), status="22", paid=0)
    assert not classify_claim_payment(claim).denied


def test_unmapped_carc_goes_to_other() -> None:
    decision = classify_claim_payment(payment("P6", line("99213", 100, 0, adj("OA", "94", 100))))
    assert decision.denied and decision.categories == ("other",) and decision.denials[0].category is None


def test_real_sample_timely_filing_and_documentation() -> None:
    remit = read_835((X12_FIXTURES / "edi-835-parser" / "835_emedny_sample.txt").read_text())
    decisions = [classify_claim_payment(c) for c in remit.claims]
    assert [d.categories for d in decisions] == [(), ("timely-filing",), ("documentation",)]
    assert [d.denied_amount for d in decisions] == [Decimal(0), Decimal(34), Decimal("22.75")]


def test_carc_index_uses_the_rule_catalogue() -> None:
    index = carc_index(all_rules())
    assert "prior-auth.prior-auth-missing" in index["197"]
    assert "timely-filing.deadline-passed" in index["29"]
    assert all(ids == tuple(sorted(ids)) for ids in index.values())


def test_queue_entries_say_whether_the_denial_passed_scrubbing() -> None:
    prior_auth = payment("PA1", line("72148", 310, 0, adj("CO", "197", 310)))
    duplicate = payment("DUP1", line("99213", 100, 0, adj("OA", "18", 100)))
    unknown = payment("UNK1", line("99213", 100, 0, adj("CO", "B20", 100)))
    flagged_finding = finding("duplicate.repeat-service-modifier-missing", Category.DUPLICATE)
    unrelated = finding("coding.modifier-unknown", Category.CODING, Severity.WARNING)
    queue = build_denial_queue(
        [
            RemittedClaim(prior_auth, "cb-pa", "60054", (unrelated,), ("DocumentReference/note-1",)),
            RemittedClaim(duplicate, "cb-dup", "01112", (flagged_finding, unrelated)),
            RemittedClaim(unknown, "cb-unk", "60054"),
        ]
    )
    by_claim = {e.claim_id: e for e in queue}
    pa = by_claim["cb-pa"]
    assert pa.scrubbing == "passed" and pa.passed_scrubbing and pa.category == "prior-auth"
    assert "prior-auth.prior-auth-missing" in pa.expected_by and pa.findings == ()
    assert pa.documentation == ("DocumentReference/note-1",) and pa.carcs == ("CO-197",)
    dup = by_claim["cb-dup"]
    assert dup.scrubbing == "flagged" and dup.findings == (flagged_finding,)
    assert by_claim["cb-unk"].scrubbing == "not-covered" and by_claim["cb-unk"].category == "other"
    assert [e.category for e in queue] == sorted(e.category for e in queue)


def test_queue_splits_a_claim_by_category_and_groups_by_payer() -> None:
    claim = payment(
        "MIX",
        line("99214", 150, 0, adj("CO", "16", 150)),
        line("20610", 90, 0, adj("CO", "197", 90)),
        line("20610", 90, 0, adj("CO", "15", 90)),
    )
    claim.remark_codes.append("MA130")
    claim.lines[0].remark_codes.append("M76")
    queue = build_denial_queue([RemittedClaim(claim, "cb-mix", "60054")])
    assert [(e.category, e.lines, e.amount) for e in queue] == [
        ("missing-data", (0,), Decimal(150)),
        ("prior-auth", (1, 2), Decimal(180)),
    ]
    assert queue[0].remark_codes == ("M76", "MA130") and queue[1].remark_codes == ("MA130",)
    assert queue[0].whole_claim and queue[1].carcs == ("CO-15", "CO-197")
    grouped = group_queue(queue)
    assert set(grouped) == {("missing-data", "60054"), ("prior-auth", "60054")}


def test_carc_150_is_a_coding_denial() -> None:
    decision = classify_claim_payment(payment("P1", line("99215", 200, 0, adj("CO", "150", 200))))
    assert decision.categories == ("coding",)


def test_forwarded_claim_status_23_is_neither_paid_nor_denied() -> None:
    from app.billing.answers import payment_event
    from app.domain.claim_status import ClaimEvent

    claim = payment("P1", line("99213", 100, 0, adj("OA", "109", 100)), status="23", paid=0)
    assert not classify_claim_payment(claim).denied
    assert payment_event(claim) is ClaimEvent.FORWARDED_835


@pytest.mark.parametrize(
    ("remarks", "line_remarks", "category"),
    [
        ((), (), "missing-data"),  # CO-16 alone: missing information
        (("N56",), (), "coding"),  # procedure inconsistent with the diagnosis
        ((), ("M80",), "coding"),  # bundled with another procedure, on the line
        ((), ("M76",), "missing-data"),  # diagnosis missing: a data companion of 16
        (("MA04",), (), "eligibility"),  # the primary payer's information is missing (COB)
        (("M127",), (), "documentation"),
        (("N999", "N290"), (), "missing-data"),  # an unlisted remark changes nothing; the next one refines
    ],
)
def test_remark_codes_refine_a_generic_carc(remarks: tuple, line_remarks: tuple, category: str) -> None:
    ln = line("99213", 100, 0, adj("CO", "16", 100))
    ln.remark_codes.extend(line_remarks)
    decision = classify_claim_payment(payment("P1", ln, remarks=remarks))
    assert decision.categories == (category,)


def test_remark_codes_never_override_a_specific_carc() -> None:
    claim = payment("P1", line("99213", 100, 0, adj("CO", "197", 100)), remarks=("M51",))
    assert classify_claim_payment(claim).categories == ("prior-auth",)
