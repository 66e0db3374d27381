"""Posting 835s against stored claims, on SQLite and PostgreSQL: balances to the cent.

The claims are stored and "submitted" directly (no 837P needed); the 835s are hand-built
interchanges fed through the real ingester, so posting, pairing, attribution and the ledger are
exercised as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.billing.kpis import compute_kpis
from app.db import billing_repo, billing_views, claims_repo, ledger_repo
from app.db.billing_repo import PAYMENT, UNDERPAYMENT, SubmittedItem
from app.services import Services
from tests.clearinghouse.answers import Adj, Line, Payment, remit_835
from tests.spine.helpers import make_services

D = Decimal
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
PRIMARY, SECONDARY = "60054", "SECOND01"


@dataclass
class Book:
    services: Services
    control: int = 7000

    def claim(self, claim_id: str, *, charge: str = "100.00", payer: str = PRIMARY, patient: str = "Patient/p1") -> str:
        pcn = f"PCN{claim_id.upper()}"
        with self.services.engine.begin() as conn:
            claims_repo.save_version(conn, new_version(claim_id, payer, patient), now=T0)
            cents = int(D(charge) * 100)
            item = SubmittedItem(claim_id, 1, pcn, "0001", cents, date(2026, 10, 5), None)
            billing_repo.record_batch(conn, interchange_control_number=self.control, file_name=f"{claim_id}.837",
                                      sha256=claim_id * 4, destination="folder", line_count=1, transactions=[],
                                      items=[item], now=T0)  # fmt: skip
        self.control += 1
        return pcn

    def remit(self, payments: list[Payment], *, payer: str = PRIMARY, days: int = 10, **kw: Any) -> None:
        self.control += 1
        text = remit_835(payments, when=(T0 + timedelta(days=days)).date(), payer_id=payer, control=self.control, **kw)
        self.services.ingester().ingest(text.encode(), name=f"r{self.control}.835", source="test")

    def balance(self, claim_id: str) -> dict[str, Any]:
        with self.services.engine.connect() as conn:
            found = ledger_repo.claim_balance_json(conn, claim_id)
        assert found is not None
        return found


def new_version(claim_id: str, payer: str, patient: str) -> claims_repo.NewVersion:
    return claims_repo.NewVersion(
        claim_id=claim_id, encounter=f"Encounter/{claim_id}", patient=patient, payer_id=payer, held=False,
        resource={"resourceType": "Claim", "id": claim_id}, fingerprint="f", mapping_version=None,
        config_hash=None, em=None, findings=[], filing_deadline=None, source_job_id=None,
    )  # fmt: skip


@pytest.fixture
def book(db_url: str, tmp_path: Path) -> Iterator[Book]:
    services = make_services(db_url, tmp_path, clock=lambda: T0 + timedelta(days=11))
    yield Book(services)
    services.close()


ORIGINAL = Line("99213", D(100), D(50), (Adj("CO", "45", D(40)), Adj("PR", "2", D(10))))
REVERSAL = Line("99213", D(-100), D(-50), (Adj("CO", "45", D(-40)), Adj("PR", "2", D(-10))))
CORRECTION = Line("99213", D(100), D(40), (Adj("CO", "45", D(50)), Adj("PR", "2", D(10))))


def test_reversal_and_correction_leave_the_10_dollar_coinsurance(book: Book) -> None:
    pcn = book.claim("c1")
    book.remit([Payment(pcn, "1", (ORIGINAL,), payer_icn="ICN1")])
    book.remit([Payment(pcn, "22", (REVERSAL,), payer_icn="ICN1"), Payment(pcn, "1", (CORRECTION,), payer_icn="ICN2")])
    got = book.balance("c1")
    assert got["balance"] == "10.00"
    assert got["patient"] == {"responsibility": "10.00", "paid": "0.00", "balance": "10.00"}
    (payer,) = got["payers"]
    assert (payer["payer"], payer["paid"], payer["adjusted"], payer["balance"]) == (PRIMARY, "40.00", "50.00", "0.00")
    with book.services.engine.connect() as conn:
        kpis = compute_kpis(billing_views.revenue_book(conn), start=date(2026, 10, 1), end=date(2026, 11, 30))
    assert kpis.receivables.open_ar == D("10.00")
    assert kpis.collections.payments == D("40.00")


def test_a_reversal_delivered_twice_is_posted_once(book: Book) -> None:
    pcn = book.claim("c1")
    book.remit([Payment(pcn, "1", (ORIGINAL,), payer_icn="ICN1")])
    book.remit([Payment(pcn, "22", (REVERSAL,), payer_icn="ICN1")])
    book.remit([Payment(pcn, "22", (REVERSAL,), payer_icn="ICN1")], days=12)  # re-sent in another 835
    book.remit([Payment(pcn, "1", (CORRECTION,), payer_icn="ICN2")], days=13)
    book.remit([Payment(pcn, "1", (CORRECTION,), payer_icn="ICN2")], days=14)  # the correction re-sent
    assert book.balance("c1")["balance"] == "10.00"
    with book.services.engine.connect() as conn:
        rows = conn.execute(select(PAYMENT.c.status, PAYMENT.c.counted).order_by(PAYMENT.c.id)).all()
    assert [(r.status, r.counted) for r in rows] == [
        ("1", True),
        ("22", True),
        ("22", False),
        ("1", True),
        ("1", False),
    ]


def test_secondary_remittance_is_the_secondary_payers_and_balances_per_payer_and_patient(book: Book) -> None:
    pcn = book.claim("c1")
    book.remit([Payment(pcn, "1", (Line("99213", D(100), D(50), (Adj("CO", "45", D(40)), Adj("PR", "2", D(10))),
                                      allowed=D(60)),))])  # fmt: skip
    assert book.balance("c1")["patient"]["balance"] == "10.00"
    # The secondary pays the coinsurance; its CAS restates the primary's contractual and its payment.
    secondary = Line("99213", D(100), D(10), (Adj("CO", "45", D(40)), Adj("OA", "23", D(50))), allowed=D(60))
    book.remit([Payment(pcn, "2", (secondary,), payer_icn="S-ICN")], payer=SECONDARY, days=20)
    got = book.balance("c1")
    assert [(p["payer"], p["billed"], p["paid"], p["adjusted"], p["balance"]) for p in got["payers"]] == [
        (PRIMARY, "100.00", "50.00", "40.00", "0.00"),
        (SECONDARY, "10.00", "10.00", "0.00", "0.00"),
    ]
    assert got["patient"]["balance"] == "0.00" and got["balance"] == "0.00"
    with book.services.engine.connect() as conn:
        payers = conn.execute(select(PAYMENT.c.payer_id, PAYMENT.c.denied).order_by(PAYMENT.c.id)).all()
        alerts = conn.execute(select(UNDERPAYMENT.c.payer_id)).scalars().all()
        kpis = compute_kpis(billing_views.revenue_book(conn), start=date(2026, 10, 1), end=date(2026, 11, 30))
        per_payer = ledger_repo.payer_balances_json(conn)
    assert [(p.payer_id, p.denied) for p in payers] == [(PRIMARY, False), (SECONDARY, False)]
    assert alerts == [PRIMARY]  # the primary's own answer only: the secondary's $10 is not an underpayment
    assert kpis.receivables.open_ar == D(0) and kpis.denials.claims_denied == 0
    assert per_payer == [{"payer": PRIMARY, "balance": "0.00"}, {"payer": SECONDARY, "balance": "0.00"}]


def test_patient_balance_sums_the_patients_claims_and_their_payments(book: Book) -> None:
    pcn1, pcn2 = book.claim("c1"), book.claim("c2", charge="80.00")
    deductible = Line("99212", D(80), D(50), (Adj("CO", "45", D(5)), Adj("PR", "1", D(25))))
    book.remit([Payment(pcn1, "1", (ORIGINAL,)), Payment(pcn2, "1", (deductible,))])
    with book.services.engine.begin() as conn:
        ledger_repo.record_patient_payment(conn, claim_id="c2", amount_cents=1250, received_on=date(2026, 11, 20),
                                           method="card", reference="R-1", source="api", now=T0)  # fmt: skip
        got = ledger_repo.patient_balance_json(conn, "Patient/p1")
    assert got["balance"] == "22.50"  # 10.00 + (25.00 - 12.50)
    assert [(c["claim"], c["balance"]) for c in got["claims"]] == [("c1", "10.00"), ("c2", "12.50")]


def test_a_plb_that_names_a_claim_is_posted_to_it_and_interest_is_not(book: Book) -> None:
    pcn = book.claim("c1")
    book.remit([Payment(pcn, "1", (ORIGINAL,), payer_icn="ICN1")])
    recoup = (("WO", "ICN1", D("20.00")), ("L6", pcn, D("-1.25")), ("WO", "NOT-OURS", D("5.00")))
    book.remit([], plb=recoup, days=30)
    got = book.balance("c1")
    assert got["payers"][0]["paid"] == "30.00" and got["payers"][0]["balance"] == "20.00"
    assert got["balance"] == "30.00"
