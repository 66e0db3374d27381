"""COB (issue 11 item 5): the primary's 835 makes the secondary claim, sent with the primary's adjudication."""

from __future__ import annotations

from decimal import Decimal

from app.fhir.r4 import validate_resource
from tests.clearinghouse.answers import Adj, Line, Payment, remit_835
from tests.clearinghouse.conftest import Flow
from tests.clearinghouse.test_clearinghouse_flow import drop, lines_of, submitted_pcns
from tests.x12.x12_pyx12 import assert_valid_837p

D = Decimal
PRIMARY = "Encounter/enc-001"  # Medicare primary, Ohio Medicaid secondary


def segments(text: str) -> list[list[str]]:
    return [s.strip().split("*") for s in text.split("~") if s.strip()]


def split(code: str, charge: Decimal, day: str) -> Line:
    """Medicare pays 60%, writes off 20% (CO-45), leaves the rest as coinsurance (PR-2)."""
    paid, write_off = (charge * D("0.6")).quantize(D("0.01")), (charge * D("0.2")).quantize(D("0.01"))
    return Line(code, charge, paid, (Adj("CO", "45", write_off), Adj("PR", "2", charge - paid - write_off)),
                service_date=day)  # fmt: skip


def test_primary_835_queues_the_secondary_claim_with_2320_2330_and_2430(flow: Flow) -> None:
    worker = flow.services.worker(worker_id="w")
    flow.post_samples(1)
    worker.drain()
    (primary,) = [c for c in flow.claims().values() if c["encounter"] == PRIMARY]
    assert primary["status"] == "ready" and primary["payer"] == "01112"
    flow.clock.advance(301)
    worker.drain()
    (first,) = list(flow.outbox_dir.iterdir())
    sent = segments(first.read_text())
    assert ["SBR", "S", "18", "", "", "", "", "", "", "MC"] in sent  # the known secondary, on the primary claim
    assert not any(s[:2] == ["AMT", "D"] for s in sent)

    lines = tuple(split(code, charge, day) for code, charge, day in lines_of(primary))
    payment = Payment(submitted_pcns(flow)[primary["id"]], "1", lines)
    today = flow.clock.now().date()
    drop(flow, "remit.835", remit_835([payment], when=today, payer_id="01112"))
    flow.clock.advance(61)
    worker.drain()
    secondary = [c for c in flow.claims().values() if c["encounter"] == PRIMARY and c["id"] != primary["id"]]
    assert len(secondary) == 1 and secondary[0]["payer"] == "MCDOH" and secondary[0]["status"] == "ready"
    validate_resource(secondary[0]["claim"])  # valid R4, the primary's ClaimResponse contained
    assert secondary[0]["claim"]["contained"][0]["resourceType"] == "ClaimResponse"

    flow.clock.advance(301)
    worker.drain()
    (second,) = [f for f in flow.outbox_dir.iterdir() if f != first]
    text = second.read_text()
    assert_valid_837p(text)
    segs = segments(text)
    assert ["SBR", "S", "18", "", "", "", "", "", "", "MC"] in segs  # billed to Medicaid now
    assert ["SBR", "P", "18", "", "", "", "", "", "", "MB"] in segs  # 2320: Medicare, with what it did
    amounts = {s[1]: D(s[2]) for s in segs if s[0] == "AMT"}
    assert amounts == {"D": payment.paid, "EAF": payment.patient_responsibility}
    assert ["DTP", "573", "D8", f"{today:%Y%m%d}"] in segs
    svd = [s for s in segs if s[0] == "SVD"]
    assert [(s[1], s[3]) for s in svd] == [("01112", f"HC:{ln.code}") for ln in lines]
    assert sum(D(s[2]) for s in svd) == payment.paid
    cas = [s for s in segs if s[0] == "CAS"]
    assert sum(D(s[3]) for s in cas if s[1] == "PR") == payment.patient_responsibility

    # Medicaid's 835 names the secondary claim's own CLM01; it pays the coinsurance Medicare left, the
    # rest is Medicare's share (OA-23). The money lands on the visit's ledger: nothing left open, no
    # second receivable, no underpayment alert against Medicaid's fee schedule.
    pcn = submitted_pcns(flow)[secondary[0]["id"]]
    medicaid = tuple(Line(ln.code, ln.charge, ln.charge - ln.paid - ln.adjustments[0].amount,
                          (Adj("OA", "23", ln.paid + ln.adjustments[0].amount),), service_date=ln.service_date)
                     for ln in lines)  # fmt: skip
    drop(flow, "medicaid.835", remit_835([Payment(pcn, "2", medicaid)], when=today, payer_id="MCDOH", control=9020))
    flow.clock.advance(61)
    worker.drain()
    for claim_id in (primary["id"], secondary[0]["id"]):
        balance = flow.api(f"/api/claims/{claim_id}/balance")
        assert balance["balance"] == "0.00" and [p["payer"] for p in balance["payers"]] == ["01112", "MCDOH"]
    assert [a for a in flow.api("/api/underpayments") if a["payer"] == "MCDOH"] == []
    assert {p["payer"]: p["balance"] for p in flow.api("/api/balances/payers")}.get("MCDOH") == "0.00"

    counts = flow.table_counts()
    drop(flow, "again.835", remit_835([payment], when=today, payer_id="01112", control=9010))  # posted again
    flow.clock.advance(61)
    worker.drain()
    assert len([c for c in flow.claims().values() if c["encounter"] == PRIMARY]) == 2
    assert flow.table_counts()["claim_version"] == counts["claim_version"]


def test_a_primary_that_left_the_patient_nothing_makes_no_secondary_claim(flow: Flow) -> None:
    worker = flow.services.worker(worker_id="w")
    flow.post_samples(1)
    worker.drain()
    (primary,) = [c for c in flow.claims().values() if c["encounter"] == PRIMARY]
    flow.clock.advance(301)
    worker.drain()
    # Medicare pays 80% and writes off the rest: CLP05 = 0, nothing for Medicaid to pay.
    lines = tuple(
        Line(code, charge, (charge * D("0.8")).quantize(D("0.01")),
             (Adj("CO", "45", charge - (charge * D("0.8")).quantize(D("0.01"))),), service_date=day)
        for code, charge, day in lines_of(primary)
    )  # fmt: skip
    payment = Payment(submitted_pcns(flow)[primary["id"]], "1", lines)
    assert payment.patient_responsibility == 0
    drop(flow, "remit.835", remit_835([payment], when=flow.clock.now().date(), payer_id="01112"))
    flow.clock.advance(61)
    worker.drain()
    claims = [c for c in flow.claims().values() if c["encounter"] == PRIMARY]
    assert [c["id"] for c in claims] == [primary["id"]]  # no claim for Medicaid
