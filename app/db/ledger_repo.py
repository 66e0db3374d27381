"""Claim ledger statements: posted answers of a claim, patient payments, claim-naming PLBs, balances.

Writes patient payments and PLB entries (``claim_ledger_entry``; ``(source, reference)`` makes a
repeated import or a re-read 835 insert nothing), reads what :mod:`app.billing.posting` and
:mod:`app.billing.ledger` need, and returns balances per claim and per patient as decimal strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from app.billing.ledger import PATIENT_PAYMENT, ClaimBalance, LedgerEntry, claim_balance
from app.billing.patient_payments import PatientPayment, row_reference
from app.billing.posting import Posted
from app.db.billing_tables import CLAIM, PAYMENT, SUBMISSION, VERSION
from app.db.billing_views import money
from app.db.ledger_groups import ledger_group, ledger_roots
from app.db.models import ClaimLedgerEntry
from app.db.sql import insert_ignore

LEDGER = ClaimLedgerEntry.__table__  # type: ignore[attr-defined]


def posted_for_claim(conn: Connection, claim_id: str) -> list[Posted]:
    """The answers on ``claim_id``'s ledger, in arrival order: its own and its secondary claims'
    (:mod:`app.db.ledger_groups`)."""
    members = ledger_group(conn, claim_id).members
    rows = conn.execute(select(PAYMENT).where(PAYMENT.c.claim_id.in_(members)).order_by(PAYMENT.c.id)).all()
    return [
        Posted(
            id=r.id,
            payer_id=r.payer_id,
            status=r.status,
            payer_claim_control_number=r.payer_claim_control_number,
            charge_cents=r.charge_cents,
            paid_cents=r.paid_cents or 0,
            contractual_cents=r.contractual_cents,
            patient_responsibility_cents=r.patient_responsibility_cents or 0,
            denied=r.denied,
            counted=r.counted,
            reverses_id=r.reverses_id,
        )
        for r in rows
    ]


def record_entry(conn: Connection, **values: Any) -> int | None:
    """Insert one ledger entry; ``None`` when its ``(source, reference)`` is already on file."""
    ids = insert_ignore(conn, LEDGER, [values], ["source", "reference"], "id")
    return int(ids[0]) if ids else None


def entries_for_claim(conn: Connection, claim_id: str) -> list[LedgerEntry]:
    members = ledger_group(conn, claim_id).members
    rows = conn.execute(select(LEDGER).where(LEDGER.c.claim_id.in_(members)).order_by(LEDGER.c.id)).all()
    return [LedgerEntry(r.kind, r.payer_id, r.amount_cents) for r in rows]


def resolve_claim(conn: Connection, key: str) -> str | None:
    """A claim id from its id or its patient control number (CLM01)."""
    stmt = select(CLAIM.c.id).where(or_(CLAIM.c.id == key, CLAIM.c.patient_control_number == key)).limit(1)
    return conn.execute(stmt).scalar_one_or_none()


def _charge_cents(conn: Connection, claim_id: str) -> int:
    first = conn.execute(
        select(SUBMISSION.c.charge_cents).where(SUBMISSION.c.claim_id == claim_id).order_by(SUBMISSION.c.id).limit(1)
    ).scalar_one_or_none()
    if first is not None:
        return int(first)
    resource = conn.execute(
        select(VERSION.c.resource)
        .join(CLAIM, (CLAIM.c.id == VERSION.c.claim_id) & (CLAIM.c.current_version == VERSION.c.version))
        .where(CLAIM.c.id == claim_id)
    ).scalar_one_or_none()
    total = ((resource or {}).get("total") or {}).get("value")
    return round(float(total) * 100) if total is not None else 0


def balance_of(conn: Connection, claim_id: str) -> ClaimBalance:
    """The balance of the ledger ``claim_id`` is on (a secondary claim's is its primary claim's)."""
    group = ledger_group(conn, claim_id)
    return claim_balance(
        _charge_cents(conn, group.root),
        primary_payer=group.payer_id,
        posted=posted_for_claim(conn, claim_id),
        entries=entries_for_claim(conn, claim_id),
    )


def balance_json(claim_id: str, b: ClaimBalance) -> dict[str, Any]:
    return {
        "claim": claim_id,
        "charge": money(b.charge_cents),
        "payers": [
            {
                "payer": p.payer_id,
                "billed": money(p.billed_cents),
                "paid": money(p.paid_cents),
                "adjusted": money(p.adjusted_cents),
                "patient_responsibility": money(p.patient_responsibility_cents),
                "balance": money(p.balance_cents),
                "answered": p.answered,
            }
            for p in b.payers
        ],
        "patient": {
            "responsibility": money(b.patient_responsibility_cents),
            "paid": money(b.patient_paid_cents),
            "balance": money(b.patient_balance_cents),
        },
        "balance": money(b.balance_cents),
    }


def claim_balance_json(conn: Connection, claim_id: str) -> dict[str, Any] | None:
    if conn.execute(select(CLAIM.c.id).where(CLAIM.c.id == claim_id)).scalar_one_or_none() is None:
        return None
    return balance_json(claim_id, balance_of(conn, claim_id))


def patient_balance_json(conn: Connection, patient: str) -> dict[str, Any]:
    """The patient's balance over their claims, and each claim's."""
    ids = conn.execute(select(CLAIM.c.id).where(CLAIM.c.patient == patient).order_by(CLAIM.c.id)).scalars().all()
    follow = ledger_roots(conn, ids)  # a secondary claim's money is on its primary's ledger: counted there
    claims = [(claim_id, balance_of(conn, claim_id)) for claim_id in ids if claim_id not in follow]
    return {
        "patient": patient,
        "balance": money(sum(b.patient_balance_cents for _, b in claims)),
        "claims": [
            {"claim": claim_id, **balance_json(claim_id, b)["patient"]}
            for claim_id, b in claims
            if b.patient_responsibility_cents or b.patient_paid_cents
        ],
    }


def payer_balances_json(conn: Connection, claim_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Open balance per payer over the claims (default: every claim with an 835 answer or a submission)."""
    if claim_ids is None:
        claim_ids = conn.execute(select(func.distinct(SUBMISSION.c.claim_id))).scalars().all()
    totals: dict[str, int] = {}
    wanted = sorted(set(claim_ids))
    follow = ledger_roots(conn, wanted)
    for claim_id in sorted({follow.get(c, c) for c in wanted}):
        for p in balance_of(conn, claim_id).payers:
            totals[p.payer_id] = totals.get(p.payer_id, 0) + p.balance_cents
    return [{"payer": payer, "balance": money(cents)} for payer, cents in sorted(totals.items())]


PATIENT = "patient"


def record_patient_payment(
    conn: Connection,
    *,
    claim_id: str,
    amount_cents: int,
    received_on: date,
    method: str,
    reference: str,
    now: datetime,
) -> int | None:
    """Post a patient payment; ``None`` when a payment with this reference is already on file."""
    return record_entry(
        conn,
        claim_id=claim_id,
        kind=PATIENT_PAYMENT,
        payer_id="",
        amount_cents=amount_cents,
        posted_on=received_on,
        source=PATIENT,
        reference=reference[:120],
        method=method[:20],
        reason="",
        created_at=now,
    )


def import_patient_payments(
    conn: Connection, rows: Iterable[tuple[int, PatientPayment]], *, now: datetime
) -> dict[str, Any]:
    """Post parsed CSV rows: counts of imported and already-imported rows, and rows naming no claim."""
    imported, duplicates, errors = 0, 0, []
    for line, p in rows:
        claim_id = resolve_claim(conn, p.claim)
        if claim_id is None:
            errors.append({"line": line, "message": f"no claim {p.claim!r} (claim id or patient control number)"})
            continue
        entry = record_patient_payment(conn, claim_id=claim_id, amount_cents=p.cents, received_on=p.received_on,
                                       method=p.method, reference=row_reference(p), now=now)  # fmt: skip
        if entry is None:
            duplicates += 1
        else:
            imported += 1
    return {"imported": imported, "duplicates": duplicates, "errors": errors}


def claim_for_reference(conn: Connection, reference: str) -> str | None:
    """The claim a PLB reference names: its CLM01, or the payer claim control number of one of its answers."""
    by_pcn = conn.execute(select(CLAIM.c.id).where(CLAIM.c.patient_control_number == reference)).scalar_one_or_none()
    if by_pcn is not None:
        return str(by_pcn)
    stmt = (
        select(PAYMENT.c.claim_id)
        .where(PAYMENT.c.payer_claim_control_number == reference, PAYMENT.c.claim_id.is_not(None))
        .order_by(PAYMENT.c.id.desc())
        .limit(1)
    )
    found = conn.execute(stmt).scalar_one_or_none()
    return None if found is None else str(found)
