"""Clearinghouse submission statements: ready claims, PCN owners, the ISA13 sequence and batches.

Writes only; the read models (denial queue, underpayments, KPIs' revenue book) are in
:mod:`app.db.billing_views`, inbound files and acknowledgements in :mod:`app.db.inbound_repo`, 835
remittance rows in :mod:`app.db.remittance_repo` (their names stay importable from here). Money is
integer cents. The interchange control number comes from the ``x12_control_number`` row, incremented
with ``UPDATE ... RETURNING`` inside the submitting transaction: the row lock serialises concurrent
submitters on PostgreSQL (``BEGIN IMMEDIATE`` does on SQLite), so numbers are unique and increasing,
and a rolled-back batch gives its number back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update

from app.db.billing_tables import (
    ACK277,
    ACK999,
    BATCH,
    CLAIM,
    CONTROL,
    DENIAL,
    INBOUND,
    JOB,
    PAYMENT,
    POSTING,
    REMITTANCE,
    RES,
    RESPONSE,
    SUB,
    SUBMISSION,
    UNDERPAYMENT,
    VERSION,
)
from app.db.claims_repo import apply_transitions
from app.db.inbound_repo import (
    ClaimLink,
    batch_by_control,
    claims_in_transaction,
    inbound_by_hash,
    inbound_outcome,
    insert_inbound,
    links_by_id,
    links_by_pcn,
    record_ack_277,
    record_ack_999,
    record_claim_response,
    set_inbound_outcome,
    set_submission_ack,
)
from app.db.remittance_repo import (
    documentation_refs,
    record_claim_payment,
    record_denials,
    record_posting,
    record_remittance,
    record_underpayments,
    set_reconciliation,
)
from app.db.sql import insert_ignore
from app.domain.claim_status import ClaimEvent, ClaimStatus
from app.domain.tenancy import DEFAULT_EHR
from app.errors import FatalError

__all__ = [
    "ACK277", "ACK999", "BATCH", "CLAIM", "CONTROL", "DENIAL", "INBOUND", "JOB", "PAYMENT", "POSTING",
    "REMITTANCE", "RES", "RESPONSE", "SUB", "SUBMISSION", "UNDERPAYMENT", "VERSION",
    "ClaimLink", "ControlNumbersExhausted", "ReadyRow", "SubmittedItem",
    "batch_by_control", "claims_in_transaction", "documentation_refs", "inbound_by_hash", "inbound_outcome",
    "insert_inbound", "links_by_id", "links_by_pcn", "next_control_number", "pcn_owner", "ready_claims",
    "record_ack_277", "record_ack_999", "record_batch", "record_claim_payment", "record_claim_response",
    "record_denials", "record_posting", "record_remittance", "record_underpayments", "set_inbound_outcome",
    "set_reconciliation", "set_submission_ack",
]  # fmt: skip

ISA13 = "isa13"
MAX_CONTROL_NUMBER = 999_999_999


class ControlNumbersExhausted(FatalError, RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ReadyRow:
    claim_id: str
    version: int
    encounter: str
    payer_id: str | None
    filing_deadline: date | None
    patient_control_number: str | None
    resource: dict[str, Any]
    payer_icn: str | None = None  # set: the payer holds an earlier version; send a replacement (freq. 7)
    ehr: str = DEFAULT_EHR  # whose encounter it is (app.domain.tenancy)


@dataclass(frozen=True, slots=True)
class SubmittedItem:
    claim_id: str
    version: int
    patient_control_number: str
    transaction_control_number: str
    charge_cents: int
    service_date: date | None
    encounter_closed_at: datetime | None


# The payer's claim control number (ICN) of the claim's latest adjudication (835 CLP07), else of its
# latest 277CA acceptance (REF*1K): the claim is in the payer's system and a change is a replacement.
_PAYER_ICN = func.coalesce(
    select(PAYMENT.c.payer_claim_control_number)
    .where(PAYMENT.c.claim_id == CLAIM.c.id, PAYMENT.c.payer_claim_control_number != "")
    .order_by(PAYMENT.c.id.desc())
    .limit(1)
    .scalar_subquery(),
    select(ACK277.c.payer_claim_control_number)
    .where(
        ACK277.c.claim_id == CLAIM.c.id,
        ACK277.c.disposition == "accepted",
        ACK277.c.payer_claim_control_number != "",
    )
    .order_by(ACK277.c.id.desc())
    .limit(1)
    .scalar_subquery(),
)
_READY_BASE = (
    select(
        CLAIM.c.id,
        VERSION.c.version,
        CLAIM.c.encounter,
        CLAIM.c.payer_id,
        CLAIM.c.filing_deadline,
        CLAIM.c.patient_control_number,
        VERSION.c.resource,
        _PAYER_ICN.label("payer_icn"),
        CLAIM.c.ehr,
    )
    .join(VERSION, (VERSION.c.claim_id == CLAIM.c.id) & (VERSION.c.version == CLAIM.c.current_version))
    .where(
        or_(
            CLAIM.c.status == ClaimStatus.READY,
            and_(CLAIM.c.status == ClaimStatus.NEEDS_REPLACEMENT, _PAYER_ICN.is_not(None)),
        ),
        CLAIM.c.updated_at <= bindparam("ready_before"),
    )
    .order_by(CLAIM.c.filing_deadline.asc().nulls_last(), CLAIM.c.id)
    .limit(bindparam("limit"))
)
_READY = {"sqlite": _READY_BASE, "postgresql": _READY_BASE.with_for_update(skip_locked=True, of=CLAIM)}
_PCN_OWNER = select(CLAIM.c.id).where(CLAIM.c.patient_control_number == bindparam("pcn"))
_NEXT_CONTROL = (
    update(CONTROL)
    .where(CONTROL.c.name == bindparam("n"))
    .values(last_value=CONTROL.c.last_value + 1)
    .returning(CONTROL.c.last_value)
)


def ready_claims(conn: Connection, *, ready_before: datetime, limit: int) -> list[ReadyRow]:
    """Claims to send, earliest filing deadline first; locked on PostgreSQL.

    ``ready`` claims (no open error finding), and ``needs-replacement`` ones (changed after the payer
    received them) once the payer's claim control number is known: a replacement must name it. Each
    row carries that number when there is one.
    """
    stmt = _READY.get(conn.dialect.name, _READY_BASE)
    rows = conn.execute(stmt, {"ready_before": ready_before, "limit": limit}).all()
    return [
        ReadyRow(
            r.id,
            r.version,
            r.encounter,
            r.payer_id,
            r.filing_deadline,
            r.patient_control_number,
            dict(r.resource),
            r.payer_icn or None,
            r.ehr,
        )
        for r in rows
    ]


def pcn_owner(conn: Connection, pcn: str) -> str | None:
    return conn.execute(_PCN_OWNER, {"pcn": pcn}).scalar_one_or_none()


def next_control_number(conn: Connection, name: str = ISA13) -> int:
    """The next value of a named counter (1, 2, ...), unique on both databases."""
    insert_ignore(conn, CONTROL, [{"name": name, "last_value": 0}], ["name"], "name")
    value = int(conn.execute(_NEXT_CONTROL, {"n": name}).scalar_one())
    if value > MAX_CONTROL_NUMBER:
        raise ControlNumbersExhausted(f"control number {name} ran past {MAX_CONTROL_NUMBER}")
    return value


def record_batch(
    conn: Connection,
    *,
    interchange_control_number: int,
    file_name: str,
    sha256: str,
    destination: str,
    line_count: int,
    transactions: list[dict[str, Any]],
    items: Sequence[SubmittedItem],
    now: datetime,
) -> int:
    """The batch, one ``claim_submission`` per claim, and each claim marked ``submitted`` with its CLM01."""
    batch_id = int(
        conn.execute(
            BATCH.insert().returning(BATCH.c.id),
            {
                "interchange_control_number": interchange_control_number,
                "file_name": file_name,
                "sha256": sha256,
                "destination": destination,
                "claim_count": len(items),
                "line_count": line_count,
                "total_charge_cents": sum(i.charge_cents for i in items),
                "transactions": transactions,
                "created_at": now,
            },
        ).scalar_one()
    )
    conn.execute(
        SUBMISSION.insert(),
        [
            {
                "batch_id": batch_id,
                "claim_id": i.claim_id,
                "claim_version": i.version,
                "patient_control_number": i.patient_control_number,
                "transaction_control_number": i.transaction_control_number,
                "charge_cents": i.charge_cents,
                "service_date": i.service_date,
                "ack_999": None,
                "ack_999_at": None,
                "ack_277ca": None,
                "ack_277ca_at": None,
                "submitted_at": now,
            }
            for i in items
        ],
    )
    changes = {
        i.claim_id: {"patient_control_number": i.patient_control_number, "encounter_closed_at": i.encounter_closed_at}
        for i in items
    }
    apply_transitions(conn, ClaimEvent.SUBMITTED, changes, now=now)
    return batch_id
