"""Intake statements: subscriptions by secret digest, storing notifications and their jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from app.db.models import Inbox, Job, Subscription
from app.db.sql import insert_ignore
from app.intake.notification import Notification

SUB = Subscription.__table__  # type: ignore[attr-defined]
INBOX = Inbox.__table__  # type: ignore[attr-defined]
JOB = Job.__table__  # type: ignore[attr-defined]


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
    row = conn.execute(select(SUB.c.id, SUB.c.signing_secret, SUB.c.ehr).where(SUB.c.secret_sha256 == digest)).first()
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
    known = {k for k in keys if k} and set(
        conn.execute(select(JOB.c.dedupe_key).where(JOB.c.dedupe_key.in_([k for k in keys if k]))).scalars()
    )
    fresh = [i for i, k in enumerate(keys) if k is None or k not in known]
    if note.events and not fresh:
        return Stored(None, 0, len(keys))
    inbox_row = {
        "subscription_id": subscription_id,
        "bundle_id": note.bundle_id,
        "kind": note.kind,
        "content_type": content_type,
        "body": body,
        "received_at": now,
    }
    if note.bundle_id is None:
        inbox_id = conn.execute(INBOX.insert().values(**inbox_row).returning(INBOX.c.id)).scalar_one()
    else:
        ids = insert_ignore(conn, INBOX, [inbox_row], ["subscription_id", "bundle_id"], "id")
        if not ids:
            return Stored(None, 0, len(keys) or 1)
        inbox_id = ids[0]
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
        for i in fresh
        if note.carries_work
    ]
    if note.kind == "ping" and _has_ehr(conn, subscription_id):
        jobs.append(_pull_job(inbox_id, subscription_id, now))
    created = _insert_jobs(conn, jobs)
    return Stored(inbox_id, created, len(keys) - created)


def _has_ehr(conn: Connection, subscription_id: str) -> bool:
    return conn.execute(select(SUB.c.ehr).where(SUB.c.id == subscription_id)).scalar_one_or_none() is not None


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
        conn.execute(JOB.insert(), plain)
    return len(plain) + len(insert_ignore(conn, JOB, keyed, ["dedupe_key"], "id"))


def record_status(conn: Connection, *, subscription_id: str, note: Notification, now: datetime) -> None:
    """Handshake/heartbeat/event: update health, status and the highest event number seen."""
    values: dict[str, object] = {}
    if note.kind in ("handshake", "heartbeat"):
        values["last_heartbeat_at"] = now
    else:
        values["last_event_at"] = now
    if note.status in ("active", "requested"):
        values["status"] = "active"
    elif note.status in ("error", "off"):
        values["status"] = note.status
        values["health"] = "degraded"
    if values:
        conn.execute(update(SUB).where(SUB.c.id == subscription_id).values(**values))
    if note.kind == "handshake" and note.events_since_start == 0:  # a fresh start: count events from 1
        conn.execute(
            update(SUB).where(SUB.c.id == subscription_id, SUB.c.events_checked.is_(None)).values(events_checked=0)
        )
    if note.events_since_start is not None:
        conn.execute(
            update(SUB)
            .where(SUB.c.id == subscription_id, SUB.c.events_since_start < note.events_since_start)
            .values(events_since_start=note.events_since_start)
        )
