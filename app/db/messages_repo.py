"""The console's messages browser: notifications (inbox), jobs and deliveries (outbox), newest first.

Pages are keyset pages (``before``: the last id of the previous page), so page 1,000 costs what page
1 costs; every filter is served by an index (``ix_job_status_id``, ``ix_job_key_status``,
``ix_job_created``, ``ix_inbox_received``, ``ix_outbox_key``, ``ix_outbox_status_id``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from app.db.models import Claim, EncounterOutcomeRow, Inbox, Job, Outbox
from app.db.sql import iso
from app.db.subscriptions_repo import of_subscription

JOB = Job.__table__  # type: ignore[attr-defined]
INBOX = Inbox.__table__  # type: ignore[attr-defined]
OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
CLAIM = Claim.__table__  # type: ignore[attr-defined]
OUTCOME = EncounterOutcomeRow.__table__  # type: ignore[attr-defined]
KINDS = ("jobs", "notifications", "deliveries")


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    subscription: str | None = None  # the id on its EHR (or an internal key)
    ehr: str | None = None  # the subscription's EHR
    encounter: str | None = None
    patient: str | None = None
    claim: str | None = None
    payer: str | None = None
    destination: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_before: int | None  # pass as ``before`` for the next page; None on the last page
    filters: MessageFilter = field(default_factory=MessageFilter)


def browse(conn: Connection, kind: str, f: MessageFilter, *, before: int | None = None, limit: int = 50) -> Page:
    if kind == "jobs":
        rows = _jobs(conn, f, before, limit + 1)
    elif kind == "notifications":
        rows = _notifications(conn, f, before, limit + 1)
    elif kind == "deliveries":
        rows = _deliveries(conn, f, before, limit + 1)
    else:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1]["id"] if more and rows else None, f)


def _encounter_key(value: str) -> str:
    return value if value.startswith("Encounter/") else f"Encounter/{value}"


def _jobs(conn: Connection, f: MessageFilter, before: int | None, limit: int) -> list[dict[str, Any]]:
    cols = [JOB.c[n] for n in ("id", "inbox_id", "subscription_id", "event_number", "key", "focus", "status")]
    stmt = select(*cols, JOB.c.attempts, JOB.c.last_error, JOB.c.result, JOB.c.created_at, JOB.c.finished_at)
    if f.status:
        stmt = stmt.where(JOB.c.status == f.status)
    if f.subscription or f.ehr:
        stmt = stmt.where(of_subscription(JOB.c.subscription_id, f.subscription, f.ehr))
    if f.encounter:
        stmt = stmt.where(JOB.c.key == _encounter_key(f.encounter))
    if f.patient:
        patient = f.patient if f.patient.startswith("Patient/") else f"Patient/{f.patient}"
        stmt = stmt.where(JOB.c.key.in_(select(OUTCOME.c.encounter).where(OUTCOME.c.patient == patient)))
    if f.claim:
        stmt = stmt.where(JOB.c.key.in_(select(CLAIM.c.encounter).where(CLAIM.c.id == f.claim)))
    if f.payer:
        stmt = stmt.where(JOB.c.key.in_(select(CLAIM.c.encounter).where(CLAIM.c.payer_id == f.payer)))
    if f.since:
        stmt = stmt.where(JOB.c.created_at >= f.since)
    if f.until:
        stmt = stmt.where(JOB.c.created_at < f.until)
    if before is not None:
        stmt = stmt.where(JOB.c.id < before)
    rows = conn.execute(stmt.order_by(JOB.c.id.desc()).limit(limit)).all()
    return [{**r._asdict(), "created_at": iso(r.created_at), "finished_at": iso(r.finished_at)} for r in rows]


def _notifications(conn: Connection, f: MessageFilter, before: int | None, limit: int) -> list[dict[str, Any]]:
    stmt = select(INBOX.c.id, INBOX.c.subscription_id, INBOX.c.bundle_id, INBOX.c.kind, INBOX.c.received_at)
    if f.subscription or f.ehr:
        stmt = stmt.where(of_subscription(INBOX.c.subscription_id, f.subscription, f.ehr))
    if f.since:
        stmt = stmt.where(INBOX.c.received_at >= f.since)
    if f.until:
        stmt = stmt.where(INBOX.c.received_at < f.until)
    if f.encounter:
        stmt = stmt.where(INBOX.c.id.in_(select(JOB.c.inbox_id).where(JOB.c.key == _encounter_key(f.encounter))))
    if before is not None:
        stmt = stmt.where(INBOX.c.id < before)
    rows = conn.execute(stmt.order_by(INBOX.c.id.desc()).limit(limit)).all()
    return [{**r._asdict(), "received_at": iso(r.received_at)} for r in rows]


def _deliveries(conn: Connection, f: MessageFilter, before: int | None, limit: int) -> list[dict[str, Any]]:
    cols = [OUTBOX.c[n] for n in ("id", "destination", "kind", "key", "status", "attempts", "last_error")]
    stmt = select(*cols, OUTBOX.c.created_at, OUTBOX.c.delivered_at)
    if f.status:
        stmt = stmt.where(OUTBOX.c.status == f.status)
    if f.destination:
        stmt = stmt.where(OUTBOX.c.destination == f.destination)
    if f.claim:
        stmt = stmt.where(OUTBOX.c.key == f.claim)
    if f.encounter:
        stmt = stmt.where(OUTBOX.c.key == _encounter_key(f.encounter))
    if f.since:
        stmt = stmt.where(OUTBOX.c.created_at >= f.since)
    if f.until:
        stmt = stmt.where(OUTBOX.c.created_at < f.until)
    if before is not None:
        stmt = stmt.where(OUTBOX.c.id < before)
    rows = conn.execute(stmt.order_by(OUTBOX.c.id.desc()).limit(limit)).all()
    return [{**r._asdict(), "created_at": iso(r.created_at), "delivered_at": iso(r.delivered_at)} for r in rows]


def job_detail(conn: Connection, job_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(JOB).where(JOB.c.id == job_id)).first()
    if row is None:
        return None
    data = row._asdict()
    for name in ("available_at", "locked_until", "created_at", "finished_at"):
        data[name] = iso(data[name])
    return data


def notification_detail(conn: Connection, inbox_id: int) -> dict[str, Any] | None:
    """The notification's metadata and its jobs (the raw body is read separately, access-logged)."""
    row = conn.execute(
        select(INBOX.c.id, INBOX.c.subscription_id, INBOX.c.bundle_id, INBOX.c.kind, INBOX.c.content_type)
        .add_columns(INBOX.c.received_at)
        .where(INBOX.c.id == inbox_id)
    ).first()
    if row is None:
        return None
    jobs = conn.execute(
        select(JOB.c.id, JOB.c.key, JOB.c.focus, JOB.c.status, JOB.c.attempts, JOB.c.last_error)
        .where(JOB.c.inbox_id == inbox_id)
        .order_by(JOB.c.id)
    ).all()
    return {**row._asdict(), "received_at": iso(row.received_at), "jobs": [j._asdict() for j in jobs]}


def delivery_detail(conn: Connection, outbox_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(OUTBOX).where(OUTBOX.c.id == outbox_id)).first()
    if row is None:
        return None
    data = row._asdict()
    for name in ("available_at", "created_at", "delivered_at"):
        data[name] = iso(data[name])
    return data
