"""End to end: notifications → ready claims → periodic 837P batch → 999 / 277CA / 835 in the inbox →
claim statuses, ClaimResponses, payments, denial queue, underpayment alerts, KPIs; idempotent re-ingest.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.db.models import ClaimSubmission
from app.fhir.r4 import validate_resource
from tests.clearinghouse.answers import (
    Adj,
    ClaimVerdict,
    Line,
    Payment,
    TransactionVerdict,
    ack_277ca,
    ack_999,
    clm01s,
    remit_835,
)
from tests.clearinghouse.conftest import ADMIN_AUTH, Flow
from tests.x12.x12_pyx12 import assert_valid_837p

D = Decimal
REJECTED, DENIED, UNDERPAID, SEQUESTERED = (
    "Encounter/enc-003",
    "Encounter/enc-006",
    "Encounter/enc-008",
    "Encounter/enc-004",
)


def submitted_pcns(flow: Flow) -> dict[str, str]:
    with flow.services.engine.connect() as conn:
        rows = conn.execute(select(ClaimSubmission.claim_id, ClaimSubmission.patient_control_number)).all()
    return {str(claim_id): str(pcn) for claim_id, pcn in rows}


def lines_of(claim: dict[str, Any]) -> list[tuple[str, Decimal, str]]:
    return [
        (i["productOrService"]["coding"][0]["code"], D(str(i["net"]["value"])), i["servicedDate"].replace("-", ""))
        for i in claim["claim"]["item"]
    ]


def paid_as_contracted(claim: dict[str, Any], allowed: dict[str, float]) -> tuple[Line, ...]:
    out = []
    for code, charge, day in lines_of(claim):
        paid = D(str(allowed[code])) if code in allowed else (charge * D("0.8")).quantize(D("0.01"))
        out.append(Line(code, charge, paid, (Adj("CO", "45", charge - paid),), service_date=day))
    return tuple(out)


def payment_for(flow: Flow, claim: dict[str, Any], pcn: str) -> Payment:
    allowed = flow.services.config.payers.profile_for(claim["payer"]).allowed
    (code, charge, day), *_ = lines_of(claim)
    if claim["encounter"] == DENIED:  # prior authorization absent: the whole claim denied, CO-197
        return Payment(pcn, "4", (Line(code, charge, D(0), (Adj("CO", "197", charge),), service_date=day),))
    if claim["encounter"] == UNDERPAID:  # paid well under the contracted allowed amount
        return Payment(
            pcn, "1", (Line(code, charge, D("60.00"), (Adj("CO", "45", charge - D(60)),), service_date=day),)
        )
    if claim["encounter"] == SEQUESTERED:  # paid at contract less a CO-253 reduction: never an underpayment
        lines = list(paid_as_contracted(claim, allowed))
        rate = D(str(allowed[code]))
        adjustments = (Adj("CO", "45", charge - rate), Adj("CO", "253", D("5.00")))
        lines[0] = Line(code, charge, rate - D(5), adjustments, service_date=day)
        return Payment(pcn, "1", tuple(lines))
    return Payment(pcn, "1", paid_as_contracted(claim, allowed))


def drop(flow: Flow, name: str, text: str) -> None:
    flow.inbox_dir.mkdir(parents=True, exist_ok=True)
    (flow.inbox_dir / name).write_text(text)


def submitted_and_answered(flow: Flow) -> tuple[Any, dict[str, dict[str, Any]], list[Any], list[Any]]:
    """12 sample encounters submitted in one 837P, then its 999, 277CA (one rejection) and 835 ingested."""
    worker = flow.services.worker(worker_id="w")
    flow.post_samples(12)
    worker.drain()
    before = flow.claims()
    ready = sorted(
        (c for c in before.values() if c["status"] == "ready"), key=lambda c: (c["filing_deadline"], c["id"])
    )
    assert len(ready) >= 6 and any(c["status"] == "held" for c in before.values())
    assert not flow.outbox_dir.exists()  # the first batch goes one interval after the worker started

    flow.clock.advance(301)
    worker.drain()
    files = list(flow.outbox_dir.iterdir())
    assert len(files) == 1 and files[0].suffix == ".837"
    text = files[0].read_text()
    assert_valid_837p(text)
    pcns = submitted_pcns(flow)
    assert clm01s(text) == [pcns[c["id"]] for c in ready]  # exactly the ready claims, in deadline order
    assert all(len(p) <= 20 for p in pcns.values()) and len(set(pcns.values())) == len(pcns)
    after = flow.claims()
    assert {k for k, c in after.items() if c["status"] == "submitted"} == {c["id"] for c in ready}
    assert {k for k, c in after.items() if c["status"] == "held"} == {
        k for k, c in before.items() if c["status"] == "held"
    }
    batch = flow.api("/api/x12/batches")[0]
    assert batch["claims"] == len(ready) and batch["file_name"] == files[0].name

    by_encounter = {c["encounter"]: c for c in ready}
    today = flow.clock.now().date()
    verdicts = [
        ClaimVerdict(pcns[c["id"]], D(str(c["claim"]["total"]["value"])),
                     "A7:562:85" if c["encounter"] == REJECTED else "A2:20:PR", f"PAYER{n:04d}")
        for n, c in enumerate(ready)
    ]  # fmt: skip
    adjudicated = [c for c in ready if c["encounter"] != REJECTED]
    # One 835 per payer (each remittance is attributed to the payer that sent it, its N1*PR).
    by_payer: dict[str, list[Payment]] = {}
    for c in adjudicated:
        by_payer.setdefault(c["payer"], []).append(payment_for(flow, c, pcns[c["id"]]))
    by_payer.setdefault("60054", []).append(
        Payment("NOTOURS0001", "1", (Line("99213", D(100), D(80), (Adj("CO", "45", D(20)),)),))
    )
    drop(flow, "1-ack.999", ack_999(batch["interchange_control_number"], [TransactionVerdict("0001", "A")], when=today))
    drop(flow, "2-claims.277", ack_277ca(verdicts, when=today))
    for n, (payer, payments) in enumerate(sorted(by_payer.items())):
        drop(flow, f"3-remit-{n}.835", remit_835(payments, when=today, payer_id=payer, control=9003 + n))
    flow.clock.advance(61)
    worker.drain()
    assert sorted(p.name for p in (flow.inbox_dir / "processed").iterdir()) == [
        "1-ack.999",
        "2-claims.277",
        *(f"3-remit-{n}.835" for n in range(len(by_payer))),
    ]
    return worker, by_encounter, ready, adjudicated


def test_batch_submission_and_answers_end_to_end(flow: Flow) -> None:
    worker, by_encounter, ready, adjudicated = submitted_and_answered(flow)
    check_statuses(flow, by_encounter)
    check_responses(flow, by_encounter, expected=len(ready) * 2 + len(adjudicated))
    check_queues(flow, by_encounter)
    check_kpis(flow, submitted=len(ready), adjudicated=len(adjudicated))

    counts, statuses = flow.table_counts(), {k: c["status"] for k, c in flow.claims().items()}
    sent = sorted(p.name for p in (flow.inbox_dir / "processed").iterdir())
    for name in sent:  # the same files again: nothing changes
        drop(flow, name, (flow.inbox_dir / "processed" / name).read_text())
    flow.clock.advance(61)
    worker.drain()
    assert flow.table_counts() == counts
    assert {k: c["status"] for k, c in flow.claims().items()} == statuses
    assert len(list((flow.inbox_dir / "processed").iterdir())) == 2 * len(sent)


def check_statuses(flow: Flow, by_encounter: dict[str, dict[str, Any]]) -> None:
    claims = flow.claims()
    status = {
        c["encounter"]: c["status"] for c in claims.values() if c["id"] in {x["id"] for x in by_encounter.values()}
    }
    assert status.pop(REJECTED) == "rejected"
    assert status.pop(DENIED) == "denied"
    assert set(status.values()) == {"paid"}


def check_responses(flow: Flow, by_encounter: dict[str, dict[str, Any]], *, expected: int) -> None:
    total = 0
    for encounter, claim in by_encounter.items():
        responses = flow.api(f"/api/claims/{claim['id']}/responses")
        total += len(responses)
        for r in responses:
            validate_resource(r["resource"])
            assert r["resource"]["request"]["identifier"]["value"] == claim["id"]
        sources = [r["source"] for r in responses]
        if encounter == REJECTED:
            assert sources == ["999", "277CA"]
            error = responses[1]["resource"]
            assert error["outcome"] == "error"
            assert error["error"][0]["code"]["coding"][0]["code"] == "562"
            assert error["error"][0]["code"]["text"] == "STC A7:562:85"
        else:
            assert sources == ["999", "277CA", "835"]
            remit = responses[2]["resource"]
            assert remit["outcome"] == "complete" and remit["item"][0]["adjudication"]
    assert total == expected
    written = list((flow.services.settings.adapters.out_dir / "writeback" / "claim-response").glob("*.json"))
    assert len(written) == expected  # written back through the outbox (no EHR: the write-back folder)


def check_queues(flow: Flow, by_encounter: dict[str, dict[str, Any]]) -> None:
    denied = by_encounter[DENIED]
    queue = flow.api("/api/denials")
    assert [(e["claim"], e["category"], e["carcs"]) for e in queue] == [(denied["id"], "prior-auth", ["CO-197"])]
    entry = queue[0]
    assert entry["payer"] == denied["payer"] and entry["whole_claim"] and entry["passed_scrubbing"]
    assert "prior-auth.prior-auth-missing" in entry["expected_by"]
    assert flow.api("/api/denials", category="coding") == []
    assert flow.api("/api/denials", payer=denied["payer"]) == queue
    alerts = flow.api("/api/underpayments")
    underpaid = by_encounter[UNDERPAID]
    expected = flow.services.config.payers.profile_for(underpaid["payer"]).allowed["99213"]
    assert [(a["claim"], a["procedure"], a["actual"]) for a in alerts] == [(underpaid["id"], "99213", "60.00")]
    assert D(alerts[0]["expected"]) == D(str(expected))  # and none for the CO-253 line
    unmatched = flow.api("/api/x12/unmatched")
    assert [(u["kind"], u["patient_control_number"]) for u in unmatched] == [("835", "NOTOURS0001")]


def check_kpis(flow: Flow, *, submitted: int, adjudicated: int) -> None:
    kpis = flow.api("/api/kpis", start="2026-10-01", end="2026-11-30")
    assert kpis["submission"]["claims_submitted"] == submitted
    assert kpis["submission"]["clean_claims"] == submitted - 1  # the 277CA rejection
    assert kpis["submission"]["days_to_submit"] > 0
    denials = kpis["denials"]
    assert (denials["claims_adjudicated"], denials["claims_denied"]) == (adjudicated, 1)
    assert denials["rate_by_category"] == {"prior-auth": 1 / adjudicated}
    assert D(kpis["collections"]["payments"]) > 0 and 0 < kpis["collections"]["net_collection_rate"] < 1
    metrics = flow.client.get("/metrics", headers=ADMIN_AUTH).text
    assert f'claimbridge_kpi{{kpi="denial_rate",payer="all"}} {1 / adjudicated}' in metrics
    assert 'claimbridge_denials_open{category="prior-auth"' in metrics
    assert "claimbridge_underpayment_alerts_open 1.0" in metrics
