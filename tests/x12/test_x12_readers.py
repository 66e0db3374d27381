"""Inbound readers on the real sample files (tests/fixtures/x12) and on broken input."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest

from app.x12 import (
    Ack277,
    Ack999,
    ClaimPayment,
    Remittance835,
    RemittanceHeader,
    RemittanceTrailer,
    UnsupportedTransaction,
    iter_835,
    read_277ca,
    read_835,
    read_999,
    read_x12,
)
from app.x12.tokenizer import SegmentReader

FIXTURES = Path(__file__).parent.parent / "fixtures" / "x12"
SAMPLES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def text(name: str) -> str:
    return next(p for p in SAMPLES if p.name == name).read_text()


def test_every_shared_sample_was_copied_with_its_sources() -> None:
    shared = Path("/work/shared/x12-samples")
    if shared.exists():
        expected = sorted(p.relative_to(shared) for p in shared.rglob("*") if p.is_file())
        assert sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.is_file()) == expected
    assert (FIXTURES / "SOURCES.md").read_text().count("licence") >= 1


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_each_sample_is_parsed_or_reported(path: Path) -> None:
    document = read_x12(path.read_text())
    set_id = path.name.split("_")[0]
    if set_id in ("999", "277CA", "835") or path.suffix == ".997":
        assert isinstance(document, Ack999 | Ack277 | Remittance835)
    else:
        assert isinstance(document, UnsupportedTransaction)
        assert document.set_id == set_id[:3] and document.segment_count > 5
        assert any("not read by claimbridge" in p.message for p in document.problems)


def test_999_accepted_is_lenient_about_its_broken_envelope() -> None:
    ack = read_999(text("999_accepted.txt"))
    (txn,) = ack.transactions
    assert txn.accepted and txn.status == "A" and txn.control_number == "0001"
    assert ack.groups[0].group_control_number == "17456" and ack.groups[0].status == "A"
    assert any("IEA02" in p.message for p in ack.problems)


def test_999_rejected_locates_the_error() -> None:
    (txn,) = read_999(text("999_rejected.txt")).transactions
    assert not txn.accepted and txn.status == "R" and txn.error_codes == ["5"]
    (seg,) = txn.segment_errors
    assert (seg.segment_id, seg.position, seg.code) == ("NM", 17, "1")


def test_999_from_pyx12_carries_ik4_element_errors() -> None:
    (txn,) = read_999(text("837P_X222A1_valid.997")).transactions
    assert txn.control_number == "987654" and txn.error_codes == ["4", "5"]
    first = txn.segment_errors[0]
    assert (first.segment_id, first.position, first.code) == ("HI", 21, "8")
    bad = first.element_errors[1]
    assert (bad.position, bad.component, bad.reference, bad.code, bad.bad_value) == (2, 1, "1270", "5", "8901")


def test_277ca_accepted() -> None:
    ack = read_277ca(text("277CA_accepted.txt"))
    (claim,) = ack.claims
    assert claim.disposition == "accepted" and claim.patient_control_number == "5781"
    assert claim.payer_claim_control_number == "1107000000014420"
    assert [(s.category, s.code) for s in claim.statuses] == [("A2", "20")]
    assert [(s.category, s.code) for s in ack.batch_statuses] == [("A1", "20")]


def test_277ca_rejected_with_pipe_component_separator() -> None:
    (claim,) = read_277ca(text("277CA_rejected.txt")).claims
    (status,) = claim.statuses
    assert (status.category, status.code, status.entity) == ("A7", "562", "85")
    assert claim.disposition == "rejected" and claim.patient_control_number == "3920394930203"
    assert status.amount == Decimal("199.14")


def test_835_emedny_denials() -> None:
    remit = read_835(text("835_emedny_sample.txt"))
    assert remit.problems == [] and len(remit.claims) == 3
    denied = remit.claims[1]
    assert denied.paid == Decimal("0") and [(a.group, a.reason) for ln in denied.lines for a in ln.adjustments] == [
        ("CO", "29"),
        ("CO", "29"),
    ]
    last = remit.claims[2]
    assert [ln.remark_codes for ln in last.lines][2:] == [["N206"], ["N206"]]
    assert last.lines[0].modifiers == ("RB",) and last.lines[0].allowed == Decimal("6")
    header = remit.transactions[0].header
    assert header.payment_amount == Decimal("45.75") and header.trace_number == "10100000000"


def test_835_uhc_quirks_are_read() -> None:
    remit = read_835(text("835_united_healthcare_legacy_sample.txt"))
    first = remit.claims[0]
    assert first.patient_control_number == "001-18573-358" and first.patient_responsibility == Decimal("105.26")
    assert first.lines[1].procedure == "B4152" and first.lines[1].line_item_control_number == "800941258002"
    assert [(a.group, a.reason, a.amount) for a in first.lines[1].adjustments] == [
        ("PR", "1", Decimal("105.26")),
        ("CO", "45", Decimal("79.6")),
    ]
    assert remit.transactions[0].header.payer_id == "87726"


def test_835_without_envelope_is_read_and_its_defects_reported() -> None:
    remit = read_835(text("835_blue_cross_nc_no_envelope.txt"))
    (claim,) = remit.claims
    assert claim.payer_claim_control_number == "94151100100" and claim.paid == Decimal("1922.86")
    assert claim.lines[0].original_procedure == "59410" and claim.lines[0].allowed == Decimal("1175.4")
    messages = [p.message for p in remit.problems] + [p.message for p in claim.problems]
    assert any("no ISA envelope" in m for m in messages) and any("SE01" in m for m in messages)
    assert any("SVC02" in m for m in messages)  # the third SVC is malformed: reported, not dropped
    assert len(claim.lines) == 3


def test_835_lfh_greater_than_component_separator_and_bad_bpr_date() -> None:
    cob = read_835(text("835_cob-contractual-adjustment.835")).claims[0]
    assert cob.lines[0].procedure == "55669" and any("'>'" in p.message for p in cob.problems)
    assert [a.amount for a in cob.lines[0].adjustments] == [Decimal("516.00"), Decimal("-9.00")]
    managed = read_835(text("835_managed-care.835"))
    header = managed.transactions[0].header
    assert header.payment_date is None and any("BPR16" in p.message for p in header.problems)
    assert [(a.group, a.reason) for a in managed.claims[0].adjustments] == [("CO", "A2")]


def test_835_streams_events_in_order_with_small_chunks() -> None:
    events = list(iter_835(io.StringIO(text("835_secondary-payment.835"))))
    kinds = [type(e) for e in events]
    assert kinds == [RemittanceHeader, ClaimPayment, ClaimPayment, RemittanceTrailer]
    assert [c.patient_control_number for c in events if isinstance(c, ClaimPayment)] == ["L0004828311", "0001000053"]
    chunked = list(SegmentReader(io.StringIO(text("835_secondary-payment.835")), chunk_size=7))
    assert [s.elements for s in chunked] == [s.elements for s in SegmentReader(text("835_secondary-payment.835"))]


def test_plb_provider_adjustments() -> None:
    body = (
        "ST*835*0001~BPR*I*90*C*CHK************20260105~TRN*1*CHK9*1999~N1*PR*PAYER~N1*PE*CLINIC*XX*1234567893~"
        "LX*1~CLP*C1*1*100*100**12*ICN1~SVC*HC:99213*100*100**1~PLB*1234567893*20261231*WO:ABC1*10~SE*10*0001~"
    )
    remit = read_835(body)
    trailer = remit.transactions[0].trailer
    assert trailer is not None and trailer.provider_adjustments[0].reason == "WO"
    assert trailer.provider_adjustments[0].amount == Decimal("10")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   \n",
        "hello world",
        "ISA*00*short~",
        "ST*835*1~CLP*X*1*abc*def~SVC*HC:1*1~",
        "CAS*CO*45*10~SE*1*1~",
        "ST*999*1~IK3*HI*1**8~IK4*1*2*3~AK9*R~",
        "ST*277*1*005010X214~STC*~HL*1**PT~SE*2*1~",
    ],
)
def test_broken_input_never_raises_and_is_reported(garbage: str) -> None:
    for result in (read_835(garbage), read_999(garbage), read_277ca(garbage)):
        assert result.problems  # at least the missing/truncated envelope is reported
    remit = read_835(garbage)
    if "CLP" in garbage:
        (claim,) = remit.claims  # kept although its amounts are unreadable
        assert claim.charge is None and claim.problems
    assert read_x12(garbage) is not None


def test_orphan_segments_are_reported_not_dropped() -> None:
    remit = read_835("ST*835*1~BPR*I*1*C*CHK~SVC*HC:99213*1*1~CAS*CO*45*1~SE*5*1~")
    messages = [p.message for t in remit.transactions for p in t.header.problems]
    assert any("SVC outside any CLP claim" in m and "99213" in m for m in messages)
