"""835 balance: the payment is the claims paid less the provider-level (PLB) adjustments, or it is flagged."""

from __future__ import annotations

from decimal import Decimal

from tests.clearinghouse.answers import Adj, Line, Payment, remit_835
from tests.clearinghouse.conftest import ADMIN_AUTH, Flow
from tests.clearinghouse.test_clearinghouse_flow import drop

D = Decimal


def test_plb_adjustments_balance_the_payment_and_a_mismatch_is_flagged(flow: Flow) -> None:
    worker = flow.services.worker(worker_id="w")
    today = flow.clock.now().date()
    paid = [Payment("NOTOURS0001", "1", (Line("99213", D(100), D(80), (Adj("CO", "45", D(20)),)),))]
    recoup = (("WO", "OVP2026A", D("30.00")), ("L6", "INT", D("-1.25")))  # recoupment, interest paid to us
    drop(flow, "1-remit.835", remit_835(paid, when=today, plb=recoup))  # BPR02 = 80 - 30 + 1.25 = 51.25
    drop(flow, "2-remit.835", remit_835(paid, when=today, control=9004))  # no PLB: BPR02 = 80
    flow.clock.advance(61)
    worker.drain()

    listed = flow.api("/api/x12/remittances")
    by_payment = {r["payment"]: r for r in listed}
    good, plain = by_payment["51.25"], by_payment["80.00"]
    assert (good["claims_paid"], good["provider_adjustments"], good["balanced"]) == ("80.00", "28.75", True)
    assert [(a["reason"], a["reference"], a["amount"]) for a in good["provider_adjustment_details"]] == [
        ("WO", "OVP2026A", "30.00"),
        ("L6", "INT", "-1.25"),
    ]
    assert good["provider_adjustment_details"][0]["provider"] == "1234567893"
    assert (plain["claims_paid"], plain["provider_adjustments"], plain["balanced"]) == ("80.00", "0.00", True)
    assert plain["provider_adjustment_details"] == []
    assert [r["payment"] for r in flow.api("/api/x12/remittances", balanced="false")] == []


def test_a_payment_that_does_not_match_its_claims_is_flagged(flow: Flow) -> None:
    worker = flow.services.worker(worker_id="w")
    today = flow.clock.now().date()
    paid = [Payment("NOTOURS0001", "1", (Line("99213", D(100), D(80), (Adj("CO", "45", D(20)),)),))]
    drop(flow, "1-remit.835", remit_835(paid, when=today, payment=D("75.00")))  # $5 nobody accounts for
    flow.clock.advance(61)
    worker.drain()
    (flagged,) = flow.api("/api/x12/remittances", balanced="false")
    assert (flagged["payment"], flagged["claims_paid"], flagged["balanced"]) == ("75.00", "80.00", False)
    metrics = flow.client.get("/metrics", headers=ADMIN_AUTH).text
    assert "claimbridge_remittances_unbalanced 1.0" in metrics
