"""Posting 835s against stored claims, on SQLite and PostgreSQL: balances to the cent.

The claims are stored and "submitted" directly (no 837P needed); the 835s are hand-built
interchanges fed through the real ingester, so posting, pairing, attribution and the ledger are
exercised as in production. One database per module and engine (building the services dominates
the cost); each test uses its own claim ids and reads only its own rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.api.app import create_app
from app.billing.kpis import compute_kpis
from app.billing.records import RevenueBook
from app.billing.secondary import ADJUDICATION_ID
from app.cli.main import app as cli
from app.db import billing_repo, billing_views, claims_repo, ledger_repo
from app.db.billing_repo import SubmittedItem
from app.db.billing_tables import PAYMENT, UNDERPAYMENT
from app.services import Services
from tests.clearinghouse.answers import Adj, Line, Payment, remit_835
from tests.conftest import fresh_schema, skip_without_postgres
from tests.spine.helpers import ADMIN, make_services

D = Decimal
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
PRIMARY, SECONDARY = "60054", "SECOND01"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}


@dataclass
class Book:
    services: Services
    prefix: str = ""
    control: int = 7000

    def id(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def claim(self, name: str, *, charge: str = "100.00", payer: str = PRIMARY, secondary_of: str | None = None) -> str:
        """Store and submit a claim; ``secondary_of``: the claim is the one built for the next payer
        after that claim's primary answer (:mod:`app.billing.secondary`), for the same visit."""
        claim_id, patient = self.id(name), f"Patient/{self.prefix}p1"
        pcn = f"PCN{claim_id.upper()}"
        new = new_version(claim_id, payer, patient)
        if secondary_of is not None:
            primary = self.id(secondary_of)
            new = replace(new, encounter=f"Encounter/{primary}", resource=secondary_resource(claim_id, primary))
        with self.services.engine.begin() as conn:
            claims_repo.save_version(conn, new, now=T0)
            cents = int(D(charge) * 100)
            item = SubmittedItem(claim_id, 1, pcn, "0001", cents, date(2026, 10, 5), None)
            billing_repo.record_batch(conn, interchange_control_number=self.control, file_name=f"{claim_id}.837",
                                      sha256=claim_id, destination="folder", line_count=1, transactions=[],
                                      items=[item], now=T0)  # fmt: skip
        self.control += 1
        return pcn

    def remit(self, payments: list[Payment], *, payer: str = PRIMARY, days: int = 10, **kw: Any) -> None:
        self.control += 1
        text = remit_835(payments, when=(T0 + timedelta(days=days)).date(), payer_id=payer, control=self.control, **kw)
        self.services.ingester().ingest(text.encode(), name=f"r{self.control}.835", source="test")

    def balance(self, name: str) -> dict[str, Any]:
        with self.services.engine.connect() as conn:
            found = ledger_repo.claim_balance_json(conn, self.id(name))
        assert found is not None
        return found

    def kpis(self) -> Any:
        """October-November KPIs over this test's claims only."""
        with self.services.engine.connect() as conn:
            full = billing_views.revenue_book(conn)
        mine = self.prefix
        book = RevenueBook(
            [c for c in full.claims if c.claim_id.startswith(mine)],
            [a for a in full.acknowledgements if a.claim_id.startswith(mine)],
            [a for a in full.adjudications if a.claim_id.startswith(mine)],
            [p for p in full.payments if p.claim_id.startswith(mine)],
        )
        return compute_kpis(book, start=date(2026, 10, 1), end=date(2026, 11, 30))

    def rows(self, *columns: Any, table: Any = PAYMENT) -> list[Any]:
        with self.services.engine.connect() as conn:
            stmt = select(*columns).where(table.c.claim_id.like(f"{self.prefix}%")).order_by(table.c.id)
            return list(conn.execute(stmt).all())


def secondary_resource(claim_id: str, primary: str) -> dict[str, Any]:
    """The shape :func:`app.billing.secondary.secondary_claim` gives the next payer's claim."""
    return {
        "resourceType": "Claim",
        "id": claim_id,
        "contained": [{"resourceType": "ClaimResponse", "id": ADJUDICATION_ID}],
        "insurance": [
            {"sequence": 1, "focal": False, "claimResponse": {"reference": f"#{ADJUDICATION_ID}"}},
            {"sequence": 2, "focal": True},
        ],
        "related": [{"claim": {"reference": f"Claim/{primary}"}, "relationship": {"coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship", "code": "associated"}]}}],
    }  # fmt: skip


def new_version(claim_id: str, payer: str, patient: str) -> claims_repo.NewVersion:
    return claims_repo.NewVersion(
        claim_id=claim_id, encounter=f"Encounter/{claim_id}", patient=patient, payer_id=payer, held=False,
        resource={"resourceType": "Claim", "id": claim_id}, fingerprint="f", mapping_version=None,
        config_hash=None, em=None, findings=[], filing_deadline=None, source_job_id=None,
    )  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_url: str | None
) -> Iterator[Services]:
    tmp = tmp_path_factory.mktemp(f"posting-{request.param}")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp / 'claimbridge.db'}"
        else:
            if pg_url is None:
                skip_without_postgres()
            url = stack.enter_context(fresh_schema(pg_url))
        services = make_services(url, tmp, clock=lambda: T0 + timedelta(days=11))
        stack.callback(services.close)
        yield services


@pytest.fixture
def book(shared: Services, request: pytest.FixtureRequest) -> Book:
    number = next(_TESTS)
    return Book(shared, prefix=f"t{number}-", control=7000 + 100 * number)


_TESTS = itertools.count(1)


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
    kpis = book.kpis()
    assert kpis.receivables.open_ar == D("10.00")
    assert kpis.collections.payments == D("40.00")


def test_a_reversal_without_its_adjustments_still_takes_back_the_whole_original(book: Book) -> None:
    """Some payers reverse with the negated CLP amounts only (no CAS): the pairing, not the reversal's
    own segments, decides what is taken back, so the original's contractual and patient share go too."""
    pcn = book.claim("c1")
    book.remit([Payment(pcn, "1", (ORIGINAL,), payer_icn="ICN1")])
    bare = Line("99213", D(-100), D(-50))
    book.remit([Payment(pcn, "22", (bare,), payer_icn="ICN1"), Payment(pcn, "1", (CORRECTION,), payer_icn="ICN2")])
    got = book.balance("c1")
    assert got["balance"] == "10.00" and got["patient"]["responsibility"] == "10.00"
    assert (got["payers"][0]["paid"], got["payers"][0]["adjusted"]) == ("40.00", "50.00")


def test_a_reversal_delivered_twice_is_posted_once(book: Book) -> None:
    pcn = book.claim("c1")
    book.remit([Payment(pcn, "1", (ORIGINAL,), payer_icn="ICN1")])
    book.remit([Payment(pcn, "22", (REVERSAL,), payer_icn="ICN1")])
    book.remit([Payment(pcn, "22", (REVERSAL,), payer_icn="ICN1")], days=12)  # re-sent in another 835
    book.remit([Payment(pcn, "1", (CORRECTION,), payer_icn="ICN2")], days=13)
    book.remit([Payment(pcn, "1", (CORRECTION,), payer_icn="ICN2")], days=14)  # the correction re-sent
    assert book.balance("c1")["balance"] == "10.00"
    rows = book.rows(PAYMENT.c.status, PAYMENT.c.counted)
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
    payers = book.rows(PAYMENT.c.payer_id, PAYMENT.c.denied)
    alerts = [r.payer_id for r in book.rows(UNDERPAYMENT.c.payer_id, table=UNDERPAYMENT)]
    kpis = book.kpis()
    with book.services.engine.connect() as conn:
        per_payer = ledger_repo.payer_balances_json(conn, [book.id("c1")])
    assert [(p.payer_id, p.denied) for p in payers] == [(PRIMARY, False), (SECONDARY, False)]
    assert alerts == [PRIMARY]  # the primary's own answer only: the secondary's $10 is not an underpayment
    assert kpis.receivables.open_ar == D(0) and kpis.denials.claims_denied == 0
    assert per_payer == [{"payer": PRIMARY, "balance": "0.00"}, {"payer": SECONDARY, "balance": "0.00"}]


def test_the_secondary_claims_835_is_posted_on_the_visits_ledger(book: Book) -> None:
    """The claim built for the secondary after the primary's 835 has its own CLM01, so the secondary's
    835 names that claim: its money closes the primary claim's patient share, not a second receivable."""
    pcn = book.claim("c1")
    book.remit([Payment(pcn, "1", (ORIGINAL,), payer_icn="ICN1")])
    second_pcn = book.claim("c1s", payer=SECONDARY, secondary_of="c1")
    secondary = Line("99213", D(100), D(10), (Adj("CO", "45", D(40)), Adj("OA", "23", D(50))), allowed=D(60))
    book.remit([Payment(second_pcn, "1", (secondary,), payer_icn="S-ICN")], payer=SECONDARY, days=20)
    got = book.balance("c1")
    assert [(p["payer"], p["billed"], p["paid"], p["adjusted"], p["balance"]) for p in got["payers"]] == [
        (PRIMARY, "100.00", "50.00", "40.00", "0.00"),
        (SECONDARY, "10.00", "10.00", "0.00", "0.00"),
    ]
    assert got["balance"] == "0.00" and book.balance("c1s") == {**got, "claim": book.id("c1s")}
    alerts = [r.payer_id for r in book.rows(UNDERPAYMENT.c.payer_id, table=UNDERPAYMENT)]
    assert alerts == [PRIMARY]  # the secondary's $10 is not compared with its fee schedule
    with book.services.engine.connect() as conn:
        per_payer = ledger_repo.payer_balances_json(conn, [book.id("c1"), book.id("c1s")])
        patient = ledger_repo.patient_balance_json(conn, f"Patient/{book.prefix}p1")
        status = claims_repo.claim_status(conn, book.id("c1s"))
    assert per_payer == [{"payer": PRIMARY, "balance": "0.00"}, {"payer": SECONDARY, "balance": "0.00"}]
    assert patient["balance"] == "0.00" and status == "paid"
    kpis = book.kpis()  # one visit, one receivable: the secondary claim's charge is not counted again
    assert kpis.receivables.open_ar == D(0) and kpis.collections.payments == D(60)
    assert kpis.collections.net_collection_rate == pytest.approx(1.0)


def test_patient_balance_sums_the_patients_claims_and_their_payments(book: Book) -> None:
    pcn1, pcn2 = book.claim("c1"), book.claim("c2", charge="80.00")
    deductible = Line("99212", D(80), D(50), (Adj("CO", "45", D(5)), Adj("PR", "1", D(25))))
    book.remit([Payment(pcn1, "1", (ORIGINAL,)), Payment(pcn2, "1", (deductible,))])
    with book.services.engine.begin() as conn:
        ledger_repo.record_patient_payment(conn, claim_id=book.id("c2"), amount_cents=1250,
                                           received_on=date(2026, 11, 20), method="card",
                                           reference=f"ref:{book.prefix}R-1", now=T0)  # fmt: skip
        got = ledger_repo.patient_balance_json(conn, f"Patient/{book.prefix}p1")
    assert got["balance"] == "22.50"  # 10.00 + (25.00 - 12.50)
    assert [(c["claim"], c["balance"]) for c in got["claims"]] == [(book.id("c1"), "10.00"), (book.id("c2"), "12.50")]


def test_a_plb_that_names_a_claim_is_posted_to_it_and_interest_is_not(book: Book) -> None:
    pcn, icn = book.claim("c1"), book.id("ICN1")
    book.remit([Payment(pcn, "1", (ORIGINAL,), payer_icn=icn)])
    recoup = (("WO", icn, D("20.00")), ("L6", pcn, D("-1.25")), ("WO", "NOT-OURS", D("5.00")))
    book.remit([], plb=recoup, days=30)
    got = book.balance("c1")
    assert got["payers"][0]["paid"] == "30.00" and got["payers"][0]["balance"] == "20.00"
    assert got["balance"] == "30.00"


def test_patient_payments_by_api_and_csv_import_post_once_and_show_in_the_balance(book: Book) -> None:
    pcn, c1 = book.claim("c1"), book.id("c1")
    book.remit([Payment(pcn, "1", (ORIGINAL,))])
    with TestClient(create_app(book.services)) as client:
        card = {"amount": "4.00", "received_on": "2026-11-20", "method": "card", "reference": f"{c1}R1"}
        post = client.post(f"/api/claims/{c1}/patient-payments", headers=ADMIN_AUTH, json=card)
        assert post.status_code == 201 and post.json()["balance"]["patient"]["balance"] == "6.00"
        again = client.post(f"/api/claims/{c1}/patient-payments", headers=ADMIN_AUTH,
                            json={"amount": "4.00", "received_on": "2026-11-20", "reference": f"{c1}R1"})  # fmt: skip
        assert again.status_code == 201 and again.json()["posted"] is False
        bad = client.post(f"/api/claims/{c1}/patient-payments", headers=ADMIN_AUTH,
                          json={"amount": "4.001", "received_on": "2026-11-20"})  # fmt: skip
        assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
        unknown = client.post("/api/claims/nope/patient-payments", headers=ADMIN_AUTH,
                              json={"amount": "1", "received_on": "2026-11-20"})  # fmt: skip
        assert unknown.status_code == 404
        csv_text = (
            "claim,amount,received_on,method,reference\n"
            f"{pcn},3.50,2026-11-21,cash,{c1}R2\n"  # by patient control number
            f"{c1},1.00,2026-11-21,check,{c1}R1\n"  # the API's receipt again: already on file
            f"{c1},abc,2026-11-21,cash,R3\n"
            "nope,1.00,2026-11-21,cash,R4\n"
        )
        imported = client.post("/api/patient-payments/import", headers={**ADMIN_AUTH, "Content-Type": "text/csv"},
                               content=csv_text)  # fmt: skip
        assert imported.status_code == 200
        result = imported.json()
        assert (result["imported"], result["duplicates"]) == (1, 1)
        assert [e["line"] for e in result["errors"]] == [4, 5]
        balance = client.get(f"/api/claims/{c1}/balance", headers=ADMIN_AUTH).json()
        assert balance["patient"] == {"responsibility": "10.00", "paid": "7.50", "balance": "2.50"}
        assert balance["balance"] == "2.50"
        patient = client.get(f"/api/patients/{book.prefix}p1/balance", headers=ADMIN_AUTH).json()
        assert patient["balance"] == "2.50"
        assert client.get(f"/api/claims/{c1}/balance").status_code == 401
    kpis = book.kpis()
    assert kpis.collections.payments == D("57.50")  # the payer's 50 and the patient's 7.50


def test_the_csv_import_command_refuses_a_file_without_the_columns(tmp_path: Path) -> None:
    bad = tmp_path / "payments.csv"
    bad.write_text("claim,amount\nc1,10.00\n")
    result = CliRunner().invoke(cli, ["payments", "import", str(bad)])
    assert result.exit_code == 2 and "received_on" in result.output


def test_a_first_answer_from_a_payer_id_the_claim_does_not_name_is_the_primary_answer(book: Book) -> None:
    pcn = book.claim("c1", payer="PAYER-UNKNOWN-ID")  # the claim's payer id is not the 835's
    book.remit([Payment(pcn, "1", (ORIGINAL,))])
    got = book.balance("c1")
    assert [(p["payer"], p["billed"], p["adjusted"], p["balance"]) for p in got["payers"]] == [
        (PRIMARY, "100.00", "40.00", "0.00")
    ]
    assert got["balance"] == "10.00"
