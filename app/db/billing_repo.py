"""Clearinghouse statements: ready claims, ISA13 sequence, batches, inbound files and what they record.

Writes only; the read models (denial queue, underpayments, KPIs' revenue book) are in
:mod:`app.db.billing_views`. Money is integer cents. The interchange control number comes from the
``x12_control_number`` row, incremented with ``UPDATE ... RETURNING`` inside the submitting
transaction: the row lock serialises concurrent submitters on PostgreSQL (``BEGIN IMMEDIATE`` does
on SQLite), so numbers are unique and increasing, and a rolled-back batch gives its number back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update

from app.db.claims_repo import apply_transitions
from app.db.models import (
    Ack277ca,
    Ack999,
    Claim,
    ClaimPaymentRow,
    ClaimResponseRow,
    ClaimSubmission,
    ClaimVersion,
    DenialQueueEntry,
    InboundFile,
    Job,
    PaymentPosting,
    Remittance,
    Resource,
    SubmissionBatch,
    Subscription,
    UnderpaymentAlert,
    X12ControlNumber,
)
from app.db.sql import insert_ignore
from app.domain.claim_status import ClaimEvent, ClaimStatus
from app.domain.tenancy import DEFAULT_EHR
from app.errors import FatalError

CLAIM = Claim.__table__  # type: ignore[attr-defined]
VERSION = ClaimVersion.__table__  # type: ignore[attr-defined]
JOB = Job.__table__  # type: ignore[attr-defined]
SUB = Subscription.__table__  # type: ignore[attr-defined]
RES = Resource.__table__  # type: ignore[attr-defined]
CONTROL = X12ControlNumber.__table__  # type: ignore[attr-defined]
BATCH = SubmissionBatch.__table__  # type: ignore[attr-defined]
SUBMISSION = ClaimSubmission.__table__  # type: ignore[attr-defined]
INBOUND = InboundFile.__table__  # type: ignore[attr-defined]
ACK999 = Ack999.__table__  # type: ignore[attr-defined]
ACK277 = Ack277ca.__table__  # type: ignore[attr-defined]
REMITTANCE = Remittance.__table__  # type: ignore[attr-defined]
PAYMENT = ClaimPaymentRow.__table__  # type: ignore[attr-defined]
POSTING = PaymentPosting.__table__  # type: ignore[attr-defined]
RESPONSE = ClaimResponseRow.__table__  # type: ignore[attr-defined]
DENIAL = DenialQueueEntry.__table__  # type: ignore[attr-defined]
UNDERPAYMENT = UnderpaymentAlert.__table__  # type: ignore[attr-defined]

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


@dataclass(frozen=True, slots=True)
class ClaimLink:
    """What an answer needs to know about the claim it matched."""

    claim_id: str
    status: ClaimStatus
    patient: str | None
    payer_id: str | None
    encounter: str
    patient_control_number: str | None
    resource: dict[str, Any]
    ehr: str | None
    scope: str = DEFAULT_EHR  # the claim's EHR scope (app.domain.tenancy); ``ehr`` is its subscription's EHR


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
_LINK_COLUMNS = (
    CLAIM.c.id,
    CLAIM.c.status,
    CLAIM.c.patient,
    CLAIM.c.payer_id,
    CLAIM.c.encounter,
    CLAIM.c.patient_control_number,
    VERSION.c.resource,
    SUB.c.ehr,
    CLAIM.c.ehr.label("scope"),
)
_LINKS = (
    select(*_LINK_COLUMNS)
    .join(VERSION, (VERSION.c.claim_id == CLAIM.c.id) & (VERSION.c.version == CLAIM.c.current_version))
    .outerjoin(JOB, JOB.c.id == VERSION.c.source_job_id)
    .outerjoin(SUB, SUB.c.id == JOB.c.subscription_id)
)
_LINKS_BY_PCN = _LINKS.where(CLAIM.c.patient_control_number.in_(bindparam("pcns", expanding=True)))
_LINKS_BY_ID = _LINKS.where(CLAIM.c.id.in_(bindparam("ids", expanding=True)))


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


# -- inbound -------------------------------------------------------------------------------------


def inbound_by_hash(conn: Connection, sha256: str) -> int | None:
    return conn.execute(select(INBOUND.c.id).where(INBOUND.c.sha256 == sha256)).scalar_one_or_none()


def insert_inbound(
    conn: Connection,
    *,
    sha256: str,
    name: str,
    source: str,
    kind: str,
    content: str,
    parse_issues: list[dict[str, Any]],
    now: datetime,
) -> int | None:
    """Store an inbound file; ``None`` when a file with the same content is already stored."""
    row = {
        "sha256": sha256,
        "name": name[:300],
        "source": source,
        "kind": kind,
        "content": content,
        "parse_issues": parse_issues,
        "outcome": None,
        "received_at": now,
    }
    ids = insert_ignore(conn, INBOUND, [row], ["sha256"], "id")
    return int(ids[0]) if ids else None


def set_inbound_outcome(conn: Connection, file_id: int, outcome: dict[str, Any]) -> None:
    conn.execute(update(INBOUND).where(INBOUND.c.id == file_id).values(outcome=outcome))


def inbound_outcome(conn: Connection, file_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(INBOUND.c.kind, INBOUND.c.outcome).where(INBOUND.c.id == file_id)).first()
    return None if row is None else {"kind": row.kind, **(row.outcome or {})}


def batch_by_control(conn: Connection, group_control_number: str) -> int | None:
    if not group_control_number.strip().isdigit():
        return None
    stmt = select(BATCH.c.id).where(BATCH.c.interchange_control_number == int(group_control_number))
    return conn.execute(stmt).scalar_one_or_none()


def claims_in_transaction(conn: Connection, batch_id: int, st02: str) -> list[str]:
    stmt = select(SUBMISSION.c.claim_id).where(
        SUBMISSION.c.batch_id == batch_id, SUBMISSION.c.transaction_control_number == st02
    )
    return list(conn.execute(stmt.order_by(SUBMISSION.c.id)).scalars())


def _link(r: Any) -> ClaimLink:
    return ClaimLink(
        r.id,
        ClaimStatus(r.status),
        r.patient,
        r.payer_id,
        r.encounter,
        r.patient_control_number,
        dict(r.resource),
        r.ehr,
        r.scope,
    )


def links_by_pcn(conn: Connection, pcns: Iterable[str]) -> dict[str, ClaimLink]:
    wanted = sorted({p for p in pcns if p})
    if not wanted:
        return {}
    rows = conn.execute(_LINKS_BY_PCN, {"pcns": wanted}).all()
    return {r.patient_control_number: _link(r) for r in rows}


def links_by_id(conn: Connection, claim_ids: Iterable[str]) -> dict[str, ClaimLink]:
    wanted = sorted(set(claim_ids))
    if not wanted:
        return {}
    return {r.id: _link(r) for r in conn.execute(_LINKS_BY_ID, {"ids": wanted}).all()}


def set_submission_ack(conn: Connection, claim_id: str, *, kind: str, value: str, now: datetime) -> None:
    """Record a 999 or 277CA verdict on the claim's latest submission."""
    latest = select(func.max(SUBMISSION.c.id)).where(SUBMISSION.c.claim_id == claim_id).scalar_subquery()
    column = "ack_999" if kind == "999" else "ack_277ca"
    conn.execute(update(SUBMISSION).where(SUBMISSION.c.id == latest).values({column: value, f"{column}_at": now}))


def record_ack_999(conn: Connection, **values: Any) -> None:
    conn.execute(ACK999.insert(), values)


def record_ack_277(conn: Connection, **values: Any) -> None:
    conn.execute(ACK277.insert(), values)


def record_remittance(conn: Connection, **values: Any) -> int:
    return int(conn.execute(REMITTANCE.insert().returning(REMITTANCE.c.id), values).scalar_one())


def set_reconciliation(conn: Connection, remittance_id: int, resource: dict[str, Any], **balance: Any) -> None:
    """The transaction's PaymentReconciliation, and its balance (claims paid, PLB total, balanced)."""
    conn.execute(update(REMITTANCE).where(REMITTANCE.c.id == remittance_id).values(reconciliation=resource, **balance))


def record_claim_payment(conn: Connection, **values: Any) -> int:
    return int(conn.execute(PAYMENT.insert().returning(PAYMENT.c.id), values).scalar_one())


def record_posting(conn: Connection, **values: Any) -> None:
    conn.execute(POSTING.insert(), values)


def record_claim_response(conn: Connection, **values: Any) -> None:
    conn.execute(RESPONSE.insert(), values)


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
