"""835 remittance rows: the remittance and its reconciliation, claim payments and postings, denial
queue entries and underpayment alerts, and the documentation a denial appeal attaches.

Writes only (the read models are in :mod:`app.db.billing_views`); money is integer cents.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from app.db.billing_tables import DENIAL, PAYMENT, POSTING, REMITTANCE, RES, UNDERPAYMENT
from app.domain.tenancy import DEFAULT_EHR


def record_remittance(conn: Connection, **values: Any) -> int:
    return int(conn.execute(REMITTANCE.insert().returning(REMITTANCE.c.id), values).scalar_one())


def set_reconciliation(conn: Connection, remittance_id: int, resource: dict[str, Any], **balance: Any) -> None:
    """The transaction's PaymentReconciliation, and its balance (claims paid, PLB total, balanced)."""
    conn.execute(update(REMITTANCE).where(REMITTANCE.c.id == remittance_id).values(reconciliation=resource, **balance))


def record_claim_payment(conn: Connection, **values: Any) -> int:
    return int(conn.execute(PAYMENT.insert().returning(PAYMENT.c.id), values).scalar_one())


def record_posting(conn: Connection, **values: Any) -> None:
    conn.execute(POSTING.insert(), values)


def record_denials(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(DENIAL.insert(), rows)


def record_underpayments(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(UNDERPAYMENT.insert(), rows)


def documentation_refs(conn: Connection, encounter: str, *, ehr: str = DEFAULT_EHR) -> list[str]:
    """Mirror keys of the encounter's DocumentReference resources (what a denial appeal attaches)."""
    stmt = select(RES.c.key).where(
        RES.c.ehr == ehr, RES.c.encounter == encounter, RES.c.resource_type == "DocumentReference"
    )
    return sorted(conn.execute(stmt).scalars())
