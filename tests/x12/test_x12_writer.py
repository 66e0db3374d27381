"""837P writer: pyx12-valid output, guide invariants as refusals, envelopes, streaming."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest
from x12_factories import billing_provider, claim_input, dependent, envelope, line
from x12_pyx12 import assert_valid_837p, pyx12_check

from app.x12 import (
    ClaimInput,
    SequentialControlNumbers,
    WriteSummary,
    X12BuildError,
    build_claim_loops,
    read_999,
    write_837p,
)
from app.x12.tokenizer import SegmentReader


def write(claims: list[ClaimInput], **kwargs: object) -> tuple[str, WriteSummary]:
    out = io.StringIO()
    numbers = kwargs.pop("numbers", None)
    summary = write_837p(claims, out, envelope=envelope(numbers, **kwargs.pop("env", {})), **kwargs)  # type: ignore[arg-type]
    return out.getvalue(), summary


def segments(text: str) -> list[list[str]]:
    return [s.elements for s in SegmentReader(text)]


def test_single_claim_is_valid_and_carries_the_guide_content() -> None:
    text, summary = write([claim_input(3, prior_authorization="PA12345")])
    assert_valid_837p(text)
    segs = segments(text)
    clm = next(s for s in segs if s[0] == "CLM")
    assert clm[1:3] == ["CLM00003", "167.50"] and clm[5] == "11:B:1"
    assert ["HI", "ABK:J069", "ABF:E119"] in segs
    assert ["SV1", "HC:99213:25", "125.00", "UN", "1", "", "", "1:2"] in segs
    assert ["LIN", "", "N4", "00409733201"] in segs and ["CTP", "", "", "", "1", "UN"] in segs
    assert ["REF", "G1", "PA12345"] in segs and ["REF", "EI", "311234567"] in segs
    assert ["SBR", "P", "18", "GRP3", "", "", "", "", "", "CI"] in segs
    assert any(s[:3] == ["NM1", "82", "1"] for s in segs)
    assert summary.claim_count == 1 and summary.line_count == 2 and summary.total_charge == Decimal("167.50")


def test_dependent_replacement_claim_uses_2000c_and_ref_f8() -> None:
    claim = claim_input(1, patient=dependent(1), frequency="7", payer_claim_control_number="ICN778899")
    text, _ = write([claim])
    assert_valid_837p(text)
    segs = segments(text)
    hls = [s for s in segs if s[0] == "HL"]
    assert [h[3] for h in hls] == ["20", "22", "23"] and hls[1][4] == "1" and hls[2][2] == hls[1][1]
    assert ["PAT", "19"] in segs and ["REF", "F8", "ICN778899"] in segs
    assert next(s for s in segs if s[0] == "SBR")[2] == ""
    assert next(s for s in segs if s[0] == "CLM")[5] == "11:B:7"


def test_line_place_of_service_only_when_it_differs() -> None:
    claim = claim_input(2, lines=(line(2), line(2, code="99214", place_of_service="02")))
    text, _ = write([claim])
    assert_valid_837p(text)
    sv1 = [s for s in segments(text) if s[0] == "SV1"]
    assert sv1[0][5:6] == [] or (sv1[0][5] == "" and sv1[1][5] == "02")


def test_batch_splits_transactions_with_consistent_control_numbers() -> None:
    numbers = SequentialControlNumbers(start=41)
    claims = [claim_input(i, patient=dependent(i) if i % 2 else None) for i in range(5)]
    text, summary = write(claims, numbers=numbers, env={"claims_per_transaction": 2})
    assert_valid_837p(text)
    segs = segments(text)
    isa, gs, ge, iea = segs[0], segs[1], segs[-2], segs[-1]
    assert isa[13] == iea[2] == "000000041" and gs[6] == ge[2] == "41" and ge[1] == "3"
    sts = [s for s in segs if s[0] == "ST"]
    ses = [s for s in segs if s[0] == "SE"]
    assert [s[2] for s in sts] == [s[2] for s in ses] == ["0001", "0002", "0003"]
    assert [t.claim_ids for t in summary.transactions] == [
        ("CLM00000", "CLM00001"),
        ("CLM00002", "CLM00003"),
        ("CLM00004",),
    ]
    assert [t.segment_count for t in summary.transactions] == [int(s[1]) for s in ses]
    assert summary.segment_count == len(segs)
    _, next_summary = write([claim_input(9)], numbers=numbers)
    assert next_summary.interchange_control_number == "000000042"


def test_consecutive_claims_share_hierarchical_levels() -> None:
    sub_claim = claim_input(4)
    claims = [sub_claim, replace(sub_claim, claim_id="CLM-B"), claim_input(4, claim_id="CLM-C", patient=dependent(4))]
    text, _ = write(claims)
    assert_valid_837p(text)
    levels = [s[3] for s in segments(text) if s[0] == "HL"]
    assert levels == ["20", "22", "22", "23"]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"total_charge": Decimal("999.00")}, "CLM02 999.00 must equal the sum of SV102 167.50"),
        ({"lines": (line(0, pointers=(3,)),), "total_charge": Decimal("125.00")}, "points past 2 diagnoses"),
        ({"diagnoses": tuple(f"J0{i}" for i in range(13))}, "1 to 12 diagnoses"),
        ({"diagnoses": ("J06.9", "E119")}, "ICD-10-CM code without the dot"),
        ({"frequency": "7"}, "needs REF*F8"),
        ({"frequency": "5"}, "CLM05-3 claim frequency"),
        ({"billing_provider": billing_provider(npi="1234567890")}, "NPI '1234567890'"),
        (
            {
                "billing_provider": billing_provider(
                    address=billing_provider().address.__class__("1 A ST", "X", "OH", "43215")
                )
            },
            "9 digits",
        ),
        (
            {"lines": (line(0, modifiers=("25", "LT", "RT", "59", "XS")),), "total_charge": Decimal("125.00")},
            "at most 4",
        ),
        ({"lines": (line(0, pointers=(1, 2, 1)),), "total_charge": Decimal("125.00")}, "distinct"),
        ({"filing_indicator": "XX"}, "SBR09"),
        ({"subscriber": claim_input().subscriber.__class__(claim_input().subscriber.name, "M1")}, "DMG"),
        ({"claim_id": "C*1"}, "delimiter"),
    ],
)
def test_broken_claims_are_refused_with_a_clear_message(changes: dict[str, object], fragment: str) -> None:
    claim = claim_input(5, **changes)
    with pytest.raises(X12BuildError) as info:
        build_claim_loops(claim)
    assert fragment in str(info.value) and info.value.claim_id == claim.claim_id
    out = io.StringIO()
    with pytest.raises(X12BuildError):
        write_837p([claim], out, envelope=envelope())
    assert out.getvalue() == ""


def test_refusal_lists_every_problem_at_once() -> None:
    claim = claim_input(6, total_charge=Decimal("1.00"), frequency="8", billing_provider=billing_provider(tin="12-345"))
    with pytest.raises(X12BuildError) as info:
        build_claim_loops(claim)
    reasons = info.value.reasons
    assert any("REF*EI" in r for r in reasons) and any("CLM02" in r or "REF*F8" in r for r in reasons)


def test_skip_mode_leaves_a_valid_file_without_the_broken_claim() -> None:
    broken = claim_input(8, claim_id="BROKEN1", total_charge=Decimal("1.00"))
    text, summary = write([claim_input(7), broken, claim_input(9)], on_error="skip")
    assert_valid_837p(text)
    assert "BROKEN1" not in text
    assert [e.claim_id for e in summary.refused] == ["BROKEN1"] and summary.claim_count == 2


def test_nothing_is_written_without_an_accepted_claim() -> None:
    numbers = SequentialControlNumbers()
    text, summary = write([], numbers=numbers)
    assert text == "" and summary.claim_count == 0 and summary.interchange_control_number == ""
    assert numbers() == 1  # no control number was consumed


def test_writing_is_streamed_claim_by_claim() -> None:
    out = io.StringIO()
    sizes: list[int] = []

    def claims() -> Iterator[ClaimInput]:
        for seed in range(4):
            sizes.append(len(out.getvalue()))
            yield claim_input(seed)

    write_837p(claims(), out, envelope=envelope())
    assert sizes[0] == 0 and sizes[1] < sizes[2] < sizes[3] < len(out.getvalue())
    assert_valid_837p(out.getvalue())


def test_pyx12_999_of_our_file_reads_back_as_accepted() -> None:
    text, summary = write([claim_input(11), claim_input(12)])
    ack_text = assert_valid_837p(text)
    ack = read_999(ack_text)
    (transaction,) = ack.transactions
    assert transaction.accepted and transaction.control_number == summary.transactions[0].control_number


def test_pyx12_helper_reports_errors_of_a_broken_file() -> None:
    text, _ = write([claim_input(13)])
    assert_valid_837p(text)
    ok, errors, _ = pyx12_check(text.replace("11:B:1", "1X:B:1"))
    assert not ok and any("1X" in e for e in errors)
    with pytest.raises(AssertionError, match="pyx12 rejected"):
        assert_valid_837p(text.replace("SE*", "SE*9", 1))
