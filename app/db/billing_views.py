"""Clearinghouse read models: denial queue, underpayment alerts, unmatched answers, batches, responses,
the KPI revenue book, and the counts ``/metrics`` reads at scrape time.

Amounts leave here as decimal strings (``"12.50"``); the revenue book holds :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, update

from app.billing.records import Acknowledgement, Adjudication, Payment, RevenueBook, SubmittedClaim
from app.db.billing_tables import (
    ACK277,
    ACK999,
    BATCH,
    CLAIM,
    DENIAL,
    PAYMENT,
    POSTING,
    REMITTANCE,
    RESPONSE,
    SUBMISSION,
    UNDERPAYMENT,
)
from app.db.ledger_groups import ledger_roots
from app.db.models import ClaimLedgerEntry, FindingRow
from app.db.sql import iso

LEDGER = ClaimLedgerEntry.__table__  # type: ignore[attr-defined]
FINDING = FindingRow.__table__  # type: ignore[attr-defined]

HUNDRED = Decimal(100)


def money(cents: int | None) -> str | None:
    return None if cents is None else str((Decimal(cents) / HUNDRED).quantize(Decimal("0.01")))


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


DENIAL_STATUSES = ("open", "appealed", "corrected", "written-off", "closed")
UNDERPAYMENT_STATUSES = ("open", "disputed", "recovered", "accepted", "closed")


def list_denials(
    conn: Connection,
    *,
    category: str | None = None,
    payer: str | None = None,
    status: str | None = "open",
    limit: int = 1000,
    item_id: int | None = None,
) -> list[dict[str, Any]]:
    """The denial queue; ``status`` None lists every entry, worked ones included."""
    stmt = select(DENIAL, CLAIM.c.encounter, CLAIM.c.status.label("claim_status")).join(
        CLAIM, CLAIM.c.id == DENIAL.c.claim_id
    )
    if item_id is not None:
        stmt = stmt.where(DENIAL.c.id == item_id)
    if status:
        stmt = stmt.where(DENIAL.c.status == status)
    if category:
        stmt = stmt.where(DENIAL.c.category == category)
    if payer:
        stmt = stmt.where(DENIAL.c.payer_id == payer)
    rows = conn.execute(stmt.order_by(DENIAL.c.category, DENIAL.c.payer_id, DENIAL.c.id).limit(limit)).all()
    return [
        {
            "id": r.id,
            "claim": r.claim_id,
            "encounter": r.encounter,
            "claim_status": r.claim_status,
            "patient_control_number": r.patient_control_number,
            "payer": r.payer_id,
            "category": r.category,
            "carcs": r.carcs,
            "remark_codes": r.remark_codes,
            "amount": money(r.amount_cents),
            "lines": r.lines,
            "whole_claim": r.whole_claim,
            "scrubbing": r.scrubbing,
            "passed_scrubbing": r.scrubbing == "passed",
            "expected_by": r.expected_by,
            "findings": r.findings,
            "documentation": r.documentation,
            **_worked(r),
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]


def _worked(r: Any) -> dict[str, Any]:
    return {"status": r.status, "worked_by": r.worked_by, "worked_at": iso(r.worked_at), "note": r.note}


def list_underpayments(
    conn: Connection,
    *,
    payer: str | None = None,
    status: str | None = "open",
    limit: int = 1000,
    item_id: int | None = None,
) -> list[dict[str, Any]]:
    """Underpayment alerts; ``status`` None lists every alert, worked ones included."""
    stmt = select(UNDERPAYMENT)
    if item_id is not None:
        stmt = stmt.where(UNDERPAYMENT.c.id == item_id)
    if status:
        stmt = stmt.where(UNDERPAYMENT.c.status == status)
    if payer:
        stmt = stmt.where(UNDERPAYMENT.c.payer_id == payer)
    rows = conn.execute(stmt.order_by(UNDERPAYMENT.c.id).limit(limit)).all()
    return [
        {
            "id": r.id,
            "claim": r.claim_id,
            "payer": r.payer_id,
            "line": r.line,
            "procedure": r.procedure,
            "modifiers": r.modifiers,
            "expected": money(r.expected_cents),
            "actual": money(r.actual_cents),
            "shortfall": money(r.shortfall_cents),
            "basis": r.basis,
            **_worked(r),
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]


def list_unmatched(conn: Connection, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Answers that matched no claim of ours: 835 claim payments, 277CA claims, 999 transactions."""
    payments = conn.execute(
        select(PAYMENT, REMITTANCE.c.file_id)
        .join(REMITTANCE, REMITTANCE.c.id == PAYMENT.c.remittance_id)
        .where(PAYMENT.c.claim_id.is_(None))
        .order_by(PAYMENT.c.id)
        .limit(limit)
    ).all()
    acks = conn.execute(select(ACK277).where(ACK277.c.claim_id.is_(None)).order_by(ACK277.c.id).limit(limit)).all()
    tx = conn.execute(select(ACK999).where(ACK999.c.batch_id.is_(None)).order_by(ACK999.c.id).limit(limit)).all()
    out: list[dict[str, Any]] = [
        {
            "kind": "835",
            "file": r.file_id,
            "patient_control_number": r.patient_control_number,
            "payer": r.payer_id,
            "status": r.status,
            "charge": money(r.charge_cents),
            "paid": money(r.paid_cents),
        }
        for r in payments
    ]
    out += [
        {
            "kind": "277CA",
            "file": r.file_id,
            "patient_control_number": r.patient_control_number,
            "disposition": r.disposition,
        }
        for r in acks
    ]
    out += [
        {
            "kind": "999",
            "file": r.file_id,
            "group_control_number": r.group_control_number,
            "transaction_control_number": r.transaction_control_number,
            "status": r.status,
        }
        for r in tx
    ]
    return out


def list_batches(conn: Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(select(BATCH).order_by(BATCH.c.id.desc()).limit(limit)).all()
    return [
        {
            "id": r.id,
            "interchange_control_number": r.interchange_control_number,
            "file_name": r.file_name,
            "sha256": r.sha256,
            "destination": r.destination,
            "claims": r.claim_count,
            "lines": r.line_count,
            "total_charge": money(r.total_charge_cents),
            "transactions": r.transactions,
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]


def claim_responses(conn: Connection, claim_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(RESPONSE).where(RESPONSE.c.claim_id == claim_id).order_by(RESPONSE.c.id)).all()
    return [
        {
            "id": r.id,
            "source": r.source,
            "outcome": r.outcome,
            "file": r.file_id,
            "created_at": iso(r.created_at),
            "resource": dict(r.resource),
        }
        for r in rows
    ]


def revenue_book(conn: Connection) -> RevenueBook:
    """Every submitted claim with its acknowledgements, adjudications and payments, for the KPIs."""
    subs = conn.execute(
        select(SUBMISSION, CLAIM.c.payer_id, CLAIM.c.encounter_closed_at)
        .join(CLAIM, CLAIM.c.id == SUBMISSION.c.claim_id)
        .order_by(SUBMISSION.c.id)
    ).all()
    by_claim: dict[str, list[Any]] = defaultdict(list)
    acks: list[Acknowledgement] = []
    for r in subs:
        by_claim[r.claim_id].append(r)
        if r.ack_999 in ("accepted", "rejected") and r.ack_999_at is not None:
            acks.append(Acknowledgement(r.claim_id, "999", r.ack_999 == "accepted", _day(r.ack_999_at)))
        if r.ack_277ca in ("accepted", "rejected") and r.ack_277ca_at is not None:
            acks.append(Acknowledgement(r.claim_id, "277CA", r.ack_277ca == "accepted", _day(r.ack_277ca_at)))
    manual = _manually_cleared(conn)
    # A secondary claim is the same visit's receivable: its answers count on its primary claim.
    follow = ledger_roots(conn)
    claims = [_submitted(claim_id, rows, claim_id in manual) for claim_id, rows in by_claim.items()
              if claim_id not in follow]  # fmt: skip
    adjudications = [replace(a, claim_id=follow.get(a.claim_id, a.claim_id)) for a in _adjudications(conn)]
    payments = [replace(p, claim_id=follow.get(p.claim_id, p.claim_id)) for p in _payments(conn)]
    return RevenueBook(claims, [a for a in acks if a.claim_id not in follow], adjudications, payments)


def _manually_cleared(conn: Connection) -> set[str]:
    """Claims with a finding someone overrode (or a hold acknowledged) before their first submission."""
    first = (
        select(SUBMISSION.c.claim_id, func.min(SUBMISSION.c.submitted_at).label("first_at"))
        .group_by(SUBMISSION.c.claim_id)
        .subquery()
    )
    stmt = (
        select(FINDING.c.claim_id)
        .join(first, first.c.claim_id == FINDING.c.claim_id)
        .where(FINDING.c.overridden_by.is_not(None), FINDING.c.overridden_at <= first.c.first_at)
        .distinct()
    )
    return set(conn.execute(stmt).scalars())


def _submitted(claim_id: str, rows: list[Any], manual: bool = False) -> SubmittedClaim:
    first = rows[0]
    closed = first.encounter_closed_at
    return SubmittedClaim(
        claim_id=claim_id,
        payer_id=first.payer_id or "",
        service_date=first.service_date or _day(first.submitted_at),
        submitted_on=_day(first.submitted_at),
        charge=Decimal(first.charge_cents) / HUNDRED,
        encounter_closed_on=_day(closed) if closed is not None else None,
        resubmissions=len(rows) - 1,
        manual_intervention=manual,
    )


def _adjudications(conn: Connection) -> list[Adjudication]:
    counted = select(PAYMENT).where(PAYMENT.c.claim_id.is_not(None), PAYMENT.c.counted.is_(True))
    rows = conn.execute(counted.order_by(PAYMENT.c.id)).all()
    return [
        Adjudication(
            claim_id=r.claim_id,
            adjudicated_on=r.adjudicated_on,
            contractual=Decimal(r.contractual_cents) / HUNDRED,
            denied=r.denied,
            denied_amount=Decimal(r.denied_cents) / HUNDRED,
            denial_categories=tuple(r.denial_categories),
        )
        for r in rows
    ]


def _payments(conn: Connection) -> list[Payment]:
    """Payer postings, then patient payments and claim-naming PLB adjustments (the claim ledger)."""
    rows = conn.execute(select(POSTING).order_by(POSTING.c.id)).all()
    payer = [Payment(r.claim_id, r.posted_on, Decimal(r.amount_cents) / HUNDRED) for r in rows]
    ledger = conn.execute(select(LEDGER).order_by(LEDGER.c.id)).all()
    return payer + [Payment(r.claim_id, r.posted_on, Decimal(r.amount_cents) / HUNDRED, source=r.kind) for r in ledger]


def billing_counts(conn: Connection) -> dict[str, Any]:
    """Open work queues for ``/metrics``: denials by category and payer, underpayments, unmatched answers."""
    denials = conn.execute(
        select(DENIAL.c.category, DENIAL.c.payer_id, func.count())
        .where(DENIAL.c.status == "open")
        .group_by(DENIAL.c.category, DENIAL.c.payer_id)
    ).all()
    under = conn.execute(select(func.count()).select_from(UNDERPAYMENT).where(UNDERPAYMENT.c.status == "open"))
    unmatched = conn.execute(select(func.count()).select_from(PAYMENT).where(PAYMENT.c.claim_id.is_(None)))
    unbalanced = conn.execute(select(func.count()).select_from(REMITTANCE).where(REMITTANCE.c.balanced.is_(False)))
    return {
        "denials": {(c, p): int(n) for c, p, n in denials},
        "underpayments": int(under.scalar_one()),
        "unmatched_payments": int(unmatched.scalar_one()),
        "unbalanced_remittances": int(unbalanced.scalar_one()),
    }


def list_remittances(conn: Connection, *, balanced: bool | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """835 transactions, newest first: payment, claims paid, PLB adjustments, balance."""
    stmt = select(REMITTANCE)
    if balanced is not None:
        stmt = stmt.where(REMITTANCE.c.balanced.is_(balanced))
    rows = conn.execute(stmt.order_by(REMITTANCE.c.id.desc()).limit(limit)).all()
    return [
        {
            "id": r.id,
            "transaction_control_number": r.transaction_control_number,
            "payer": r.payer_id,
            "payer_name": r.payer_name,
            "trace_number": r.trace_number,
            "payment_method": r.payment_method,
            "payment_date": r.payment_date.isoformat() if r.payment_date else None,
            "payment": money(r.payment_cents),
            "claims_paid": money(r.claims_paid_cents),
            "provider_adjustments": money(r.provider_adjustment_cents),
            "provider_adjustment_details": r.provider_adjustments or [],
            "balanced": r.balanced,
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]


def work_item(
    conn: Connection, *, queue: str, item_id: int, status: str, by: str, note: str | None, now: datetime
) -> dict[str, Any] | None:
    """Record what was done with a denial (``queue="denials"``) or an underpayment alert; None if unknown."""
    table = DENIAL if queue == "denials" else UNDERPAYMENT
    done = conn.execute(
        update(table).where(table.c.id == item_id).values(status=status, worked_by=by, worked_at=now, note=note)
    )
    if done.rowcount != 1:
        return None
    lister = list_denials if queue == "denials" else list_underpayments
    return lister(conn, status=None, item_id=item_id)[0]
