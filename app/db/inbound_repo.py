"""Inbound clearinghouse files and what their acknowledgements record.

An inbound file is stored once (by content hash) with the outcome of its ingestion; a 999 or 277CA
finds its claims (by patient control number or, through the batch and ST02, by claim id: a
:class:`ClaimLink`), records its verdict on their latest submission and the acknowledgement rows,
and a 277CA/835 its ``claim_response`` rows. The 835's remittance rows are in
:mod:`app.db.remittance_repo`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from app.db.billing_tables import ACK277, ACK999, BATCH, CLAIM, INBOUND, JOB, RESPONSE, SUB, SUBMISSION, VERSION
from app.db.sql import insert_ignore
from app.domain.claim_status import ClaimStatus
from app.domain.tenancy import DEFAULT_EHR


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


def record_claim_response(conn: Connection, **values: Any) -> None:
    conn.execute(RESPONSE.insert(), values)
