"""Intake statements: subscriptions by secret digest, storing notifications and their jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db.models import Inbox, Job, Subscription
from app.intake.notification import Notification

SUB = Subscription.__table__  # type: ignore[attr-defined]
INBOX = Inbox.__table__  # type: ignore[attr-defined]
JOB = Job.__table__  # type: ignore[attr-defined]

# Intake is the hottest path: every statement is built once (building one costs ~90 us).
_BY_DIGEST = select(SUB.c.id, SUB.c.signing_secret, SUB.c.ehr).where(SUB.c.secret_sha256 == bindparam("digest"))
_DELETE_INBOX = INBOX.delete().where(INBOX.c.id == bindparam("id"))
_INSERT_INBOX = INBOX.insert().returning(INBOX.c.id)
_INSERT_JOBS = JOB.insert()
_HAS_EHR = select(SUB.c.ehr).where(SUB.c.id == bindparam("sid"))


@cache
def _insert_ignoring(dialect: str, table: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, for the inbox (bundle id) or jobs (dedupe key)."""
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    target, conflict = (INBOX, ["subscription_id", "bundle_id"]) if table == "inbox" else (JOB, ["dedupe_key"])
    return factory(target).on_conflict_do_nothing(index_elements=conflict).returning(target.c.id)


@dataclass(frozen=True)
class SenderSubscription:
    id: str
    signing_secret: str | None
    ehr: str | None


@dataclass(frozen=True)
class Stored:
    inbox_id: int | None
    jobs: int
    duplicates: int


def find_subscription_by_digest(conn: Connection, digest: str) -> SenderSubscription | None:
    row = conn.execute(_BY_DIGEST, {"digest": digest}).first()
    return SenderSubscription(row.id, row.signing_secret, row.ehr) if row else None


def dedupe_key(subscription_id: str, note: Notification, index: int) -> str | None:
    event = note.events[index]
    if event.number is not None:
        return f"evt:{subscription_id}:{event.number}"
    if event.focus and event.focus_version:
        return f"ver:{event.focus}:{event.focus_version}"
    return None


def ordering_key(note: Notification, index: int) -> str:
    """Jobs with one key run in arrival order: the encounter the focus belongs to where known."""
    event = note.events[index]
    focus = event.focus
    for resource, _ in note.resources:
        if f"{resource.get('resourceType')}/{resource.get('id')}" != focus:
            continue
        for element in ("encounter", "context"):
            ref = resource.get(element)
            if isinstance(ref, dict) and str(ref.get("reference", "")).startswith("Encounter/"):
                return str(ref["reference"])
    return focus or f"subscription:{note.subscription_id}"


def store_notification(
    conn: Connection,
    *,
    subscription_id: str,
    note: Notification,
    body: bytes,
    content_type: str | None,
    now: datetime,
) -> Stored:
    """Store the raw notification and one job per new event; duplicates store nothing new.

    A plain R4 ping (empty POST) becomes one focus-less job when the subscription has an EHR to
    pull from (a notified pull); without one there is nothing to do but record it.
    """
    keys = [dedupe_key(subscription_id, note, i) for i in range(len(note.events))]
    inbox_row = {
        "subscription_id": subscription_id,
        "bundle_id": note.bundle_id,
        "kind": note.kind,
        "content_type": content_type,
        "body": body,
        "received_at": now,
    }
    if note.bundle_id is None:
        inbox_id = conn.execute(_INSERT_INBOX, inbox_row).scalar_one()
    else:
        inserted = conn.execute(_insert_ignoring(conn.dialect.name, "inbox"), inbox_row).scalar_one_or_none()
        if inserted is None:
            return Stored(None, 0, len(keys) or 1)
        inbox_id = inserted
    jobs = [
        {
            "inbox_id": inbox_id,
            "subscription_id": subscription_id,
            "dedupe_key": keys[i],
            "event_number": note.events[i].number,
            "key": ordering_key(note, i),
            "focus": note.events[i].focus,
            "version_id": note.events[i].focus_version,
            "status": "pending",
            "attempts": 0,
            "available_at": now,
            "created_at": now,
        }
        for i in range(len(keys))
        if note.carries_work
    ]
    if note.kind == "ping" and _has_ehr(conn, subscription_id):
        jobs.append(_pull_job(inbox_id, subscription_id, now))
    created = _insert_jobs(conn, jobs)  # duplicates (same event number or resource version) are skipped
    if note.events and created == 0:  # nothing new at all: keep no copy (the rare path)
        conn.execute(_DELETE_INBOX, {"id": inbox_id})
        return Stored(None, 0, len(keys))
    return Stored(inbox_id, created, len(keys) - created)


def _has_ehr(conn: Connection, subscription_id: str) -> bool:
    return conn.execute(_HAS_EHR, {"sid": subscription_id}).scalar_one_or_none() is not None


def _pull_job(inbox_id: int, subscription_id: str, now: datetime) -> dict[str, object]:
    return {
        "inbox_id": inbox_id,
        "subscription_id": subscription_id,
        "dedupe_key": None,
        "event_number": None,
        "key": f"subscription:{subscription_id}",
        "focus": None,
        "version_id": None,
        "status": "pending",
        "attempts": 0,
        "available_at": now,
        "created_at": now,
    }


def _insert_jobs(conn: Connection, jobs: list[dict[str, object]]) -> int:
    keyed = [j for j in jobs if j["dedupe_key"] is not None]
    plain = [j for j in jobs if j["dedupe_key"] is None]
    if plain:
        conn.execute(_INSERT_JOBS, plain)
    stmt = _insert_ignoring(conn.dialect.name, "job")
    return len(plain) + sum(1 for job in keyed if conn.execute(stmt, job).scalar_one_or_none() is not None)


@cache
def _status_update(*, heartbeat: bool, status: str | None, fresh_count: bool) -> Any:
    """One UPDATE per notification: health timestamps, status, and the highest event number seen."""
    values: dict[str, Any] = {"last_heartbeat_at" if heartbeat else "last_event_at": bindparam("now")}
    if status is not None:
        values["status"] = status
        if status in ("error", "off"):
            values["health"] = "degraded"
    since: Any = bindparam("since", type_=Integer)
    values["events_since_start"] = case(
        (since.is_(None), SUB.c.events_since_start),
        (SUB.c.events_since_start < since, since),
        else_=SUB.c.events_since_start,
    )
    if fresh_count:  # a handshake at event 0: count events from 1 (unless counting already)
        values["events_checked"] = case((SUB.c.events_checked.is_(None), 0), else_=SUB.c.events_checked)
    return update(SUB).where(SUB.c.id == bindparam("sid")).values(values)


def record_status(conn: Connection, *, subscription_id: str, note: Notification, now: datetime) -> None:
    """Handshake/heartbeat/event: update health, status and the highest event number seen."""
    status = {"active": "active", "requested": "active", "error": "error", "off": "off"}.get(note.status or "")
    stmt = _status_update(
        heartbeat=note.kind in ("handshake", "heartbeat"),
        status=status,
        fresh_count=note.kind == "handshake" and note.events_since_start == 0,
    )
    conn.execute(stmt, {"sid": subscription_id, "now": now, "since": note.events_since_start})
