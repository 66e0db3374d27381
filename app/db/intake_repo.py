"""Intake statements: subscriptions by secret digest, storing notifications, expanding them into jobs.

At intake (ADR "intake stores the inbox row only") a notification becomes ONE ``inbox`` row,
``pending``, holding the jobs it stands for (``events``, JSON, computed in the request) and, for a
one-event notification, its dedupe key (unique: a second copy conflicts at the insert); a
multi-event one puts its new events' keys in ``inbox_key`` until it is expanded. The worker's
expansion duty (:func:`claim_pending`, :func:`expand_row`) turns pending rows into jobs with the
same dedupe keys (``job.dedupe_key`` unique: an event seen twice is one job) and marks them
``expanded``. :func:`store_notification` (the worker's own gap recovery) stores and expands at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, Integer, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.models import Inbox, InboxKey, Job, Subscription
from app.domain.tenancy import DEFAULT_EHR, ehr_scope
from app.intake.notification import Notification

SUB = Subscription.__table__  # type: ignore[attr-defined]
INBOX = Inbox.__table__  # type: ignore[attr-defined]
INBOX_KEY = InboxKey.__table__  # type: ignore[attr-defined]
JOB = Job.__table__  # type: ignore[attr-defined]

# Intake is the hottest path: every statement is built once (building one costs ~90 us).
_BY_DIGEST = select(SUB.c.id, SUB.c.signing_secret, SUB.c.ehr, SUB.c.fhir_id).where(
    SUB.c.secret_sha256 == bindparam("digest")
)
_HAS_EHR = select(SUB.c.ehr).where(SUB.c.id == bindparam("sid"))


@dataclass(frozen=True)
class SenderSubscription:
    """The subscription a credential belongs to: ``id`` its internal key, ``fhir_id`` its id at the EHR."""

    id: str
    signing_secret: str | None
    ehr: str | None
    fhir_id: str


@dataclass(frozen=True)
class Stored:
    inbox_id: int | None
    jobs: int
    duplicates: int


def find_subscription_by_digest(conn: Connection, digest: str) -> SenderSubscription | None:
    """The subscription whose secret has ``digest``: the credential alone says which EHR's it is (ids are per EHR)."""
    row = conn.execute(_BY_DIGEST, {"digest": digest}).first()
    return SenderSubscription(row.id, row.signing_secret, row.ehr, row.fhir_id) if row else None


def dedupe_key(subscription_id: str, note: Notification, index: int, *, ehr: str = DEFAULT_EHR) -> str | None:
    """``evt:<subscription>:<n>`` for a numbered event, else ``ver:<ehr>:<Type/id>:<version>``.

    Versions are per EHR (:mod:`app.domain.tenancy`): another EHR's ``Encounter/1`` version 1 is
    another resource, never a duplicate of this one.
    """
    event = note.events[index]
    if event.number is not None:
        return f"evt:{subscription_id}:{event.number}"
    if event.focus and event.focus_version:
        return f"ver:{ehr}:{event.focus}:{event.focus_version}"
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
    ehr: str | None = None,
) -> Stored:
    """Store one notification's raw body and expand it into one job per new event at once.

    For callers inside the worker (gap recovery), which read the jobs in the same transaction; the
    subscription's status is untouched. ``ehr``: the scope of the data (default: the subscription's
    EHR, :func:`subscription_scope`). ``Stored.jobs`` counts the jobs actually created.
    """
    scope = ehr if ehr is not None else subscription_scope(conn, subscription_id)
    batch = IntakeBatch(conn, now)
    try:
        stored = batch.store_rows(subscription_id, note, body, content_type, ehr=scope)
    finally:
        batch.close()
    if stored.inbox_id is None:
        return stored
    row = conn.execute(_PENDING_ROW, {"id": stored.inbox_id}).one()
    created = expand_row(conn, row) if row.status == "pending" else 0
    return Stored(stored.inbox_id, created, max(len(note.events), created) - created)


# Per-notification statements, run through the driver: at intake SQLAlchemy's per-statement
# overhead (~100 us) was most of the cost of a row. Named ``:param`` style; psycopg gets ``%(param)s``.
# Any unique conflict (the same bundle id, or a one-event notification's dedupe key) = a duplicate.
_SQL_INBOX = (
    "INSERT INTO inbox (subscription_id, bundle_id, kind, content_type, body, received_at, status, ehr, dedupe_key, "
    "events) VALUES (:subscription_id, :bundle_id, :kind, :content_type, :body, :received_at, :status, :ehr, "
    ":dedupe_key, :events) ON CONFLICT DO NOTHING RETURNING id"
)
# A one-event notification: one statement, also a duplicate when its event already has a job.
_SQL_INBOX_ONE = (
    "INSERT INTO inbox (subscription_id, bundle_id, kind, content_type, body, received_at, status, ehr, dedupe_key, "
    "events) SELECT :subscription_id, :bundle_id, :kind, :content_type, :body, :received_at, :status, :ehr, "
    "CAST(:dedupe_key AS VARCHAR(400)), :events "
    "WHERE NOT EXISTS (SELECT 1 FROM job WHERE job.dedupe_key = CAST(:dedupe_key AS VARCHAR(400))) "
    "AND NOT EXISTS (SELECT 1 FROM inbox_key WHERE inbox_key.dedupe_key = CAST(:dedupe_key AS VARCHAR(400))) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
# The new events' keys of a multi-event row, while it is pending (a later copy of one is a duplicate).
_SQL_KEY = "INSERT INTO inbox_key (dedupe_key, inbox_id) VALUES (:dedupe_key, :inbox_id) ON CONFLICT DO NOTHING"
_PARAM = re.compile(r":(\w+)")


@cache
def _driver_sql(paramstyle: str, sql: str) -> str:
    return _PARAM.sub(r"%(\1)s", sql) if paramstyle == "pyformat" else sql


@dataclass
class _StatusMerge:
    """What a batch's notifications say about one subscription, applied as ONE update at the end.

    Status (:func:`status_after`): the last status a notification reported wins, as one update per
    notification would leave it; a handshake makes it ``active`` (our 2xx completes it) unless it
    reports ``error``/``off``; a notification that reports no status (plain R4 ping or rest-hook)
    proves the channel works, so it turns a ``requested`` subscription ``active``.
    """

    event: bool = False
    heartbeat: bool = False
    status: str | None = None
    contact: bool = False  # a status-less notification after the last reported status
    degraded: bool = False
    fresh_count: bool = False
    since: int | None = None

    def add(self, note: Notification) -> None:
        beat = note.kind in ("handshake", "heartbeat")
        self.heartbeat |= beat
        self.event |= not beat
        status = status_after(note)
        if status is not None:
            self.status, self.contact = status, False
            self.degraded |= status in ("error", "off")
        elif note.status is None:
            self.contact = True
        self.fresh_count |= note.kind == "handshake" and note.events_since_start == 0
        if note.events_since_start is not None:
            self.since = max(self.since or 0, note.events_since_start)

    def final_status(self) -> str | None:
        """The status to store (None: keep it, or promote ``requested`` if :attr:`contact`)."""
        if self.status == "requested" and self.contact:
            return "active"
        return self.status


_STATUS = frozenset({"active", "requested", "error", "off"})


def status_after(note: Notification) -> str | None:
    """The subscription status ``note`` reports: ``requested`` stays ``requested`` until the handshake."""
    if note.status not in _STATUS:
        return None
    if note.kind == "handshake" and note.status not in ("error", "off"):
        return "active"
    return note.status


class IntakeBatch:
    """Notifications stored in one transaction: rows per notification, one status update per subscription.

    Duplicates are detected against the database and against earlier notifications of the same batch
    (each statement sees the ones before it). Call :meth:`finish` before the commit.
    """

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        dialect = conn.dialect
        self.cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self.paramstyle = dialect.paramstyle
        self.sql_inbox = _driver_sql(dialect.paramstyle, _SQL_INBOX)
        self.sql_inbox_one = _driver_sql(dialect.paramstyle, _SQL_INBOX_ONE)
        self.sql_key = _driver_sql(dialect.paramstyle, _SQL_KEY)
        self.batch_keys: set[str] = set()  # dedupe keys of this batch's multi-event notifications
        to_db = INBOX.c.received_at.type.dialect_impl(dialect).bind_processor(dialect)
        self.now = to_db(now) if to_db else now  # exactly what SQLAlchemy would store
        self.binary = INBOX.c.body.type.dialect_impl(dialect).bind_processor(dialect)
        self.statuses: dict[str, _StatusMerge] = {}
        self.now_value = now

    def _one(self, sql: str, params: dict[str, Any]) -> Any:
        self.cursor.execute(sql, params)
        row = self.cursor.fetchone()
        return row[0] if row else None

    def store(
        self, subscription_id: str, note: Notification, body: bytes, content_type: str | None, *, ehr: str = DEFAULT_EHR
    ) -> Stored:
        """Store a notification as intake does: its rows, and what it says about the subscription."""
        stored = Stored(None, 0, 0)
        if note.carries_work or note.kind in ("ping", "delete"):
            stored = self.store_rows(subscription_id, note, body, content_type, ehr=ehr)
        self.statuses.setdefault(subscription_id, _StatusMerge()).add(note)
        return stored

    def store_rows(
        self, subscription_id: str, note: Notification, body: bytes, content_type: str | None, *, ehr: str = DEFAULT_EHR
    ) -> Stored:
        """The raw notification as ONE inbox row holding its jobs; a notification with nothing new stores nothing.

        An event is known (a duplicate) when its dedupe key has a job, is the key of a one-event
        inbox row, is held by a multi-event row not expanded yet (``inbox_key``), or belongs to an
        earlier notification of this batch. A plain R4 ping (empty POST) stands
        for one focus-less job when the subscription has an EHR to pull from (a notified pull);
        without one there is nothing to do but record it.
        """
        events = note.events
        specs = job_specs(subscription_id, note, ehr=ehr) if note.carries_work else []
        if note.kind == "ping" and _has_ehr(self.conn, subscription_id):
            specs.append(_pull_spec(subscription_id))
        row = {
            "subscription_id": subscription_id,
            "bundle_id": note.bundle_id,
            "kind": note.kind,
            "content_type": content_type,
            "body": self.binary(body) if self.binary else body,
            "received_at": self.now,
            "status": "pending" if specs else "expanded",
            "ehr": ehr,
            "dedupe_key": None,
            "events": orjson.dumps(specs).decode() if specs else None,
        }
        keys = [spec[0] for spec in specs if spec[0] is not None]
        if len(specs) == 1 and keys:  # the common case: one statement decides
            if keys[0] in self.batch_keys:
                return Stored(None, 0, 1)
            row["dedupe_key"] = keys[0]
            inbox_id = self._one(self.sql_inbox_one, row)
            return Stored(inbox_id, 1, 0) if inbox_id is not None else Stored(None, 0, 1)
        known = self._known(keys)
        new, new_keys = 0, []
        for spec in specs:
            if spec[0] is None:
                new += 1
            elif spec[0] not in known:
                known.add(spec[0])
                new_keys.append(spec[0])
                new += 1
        if events and new == 0:  # nothing new at all: keep no copy
            return Stored(None, 0, len(events))
        inbox_id = self._one(self.sql_inbox, row)
        if inbox_id is None:  # the same bundle id again
            return Stored(None, 0, len(events) or 1)
        if new_keys:  # a later notification re-sending one of them is a duplicate (200)
            self.cursor.executemany(self.sql_key, [{"dedupe_key": k, "inbox_id": inbox_id} for k in new_keys])
        self.batch_keys.update(keys)
        return Stored(inbox_id, new, max(len(events) - new, 0))

    def _known(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` already stand for a job, a one-event inbox row (expanded or not), or an
        event of a multi-event row not expanded yet (``inbox_key``)."""
        known = {key for key in keys if key in self.batch_keys}
        ask = sorted(set(keys) - known)
        if ask:
            self.cursor.execute(
                _driver_sql(self.paramstyle, _known_sql(len(ask))), {f"k{i}": k for i, k in enumerate(ask)}
            )
            known.update(str(r[0]) for r in self.cursor.fetchall())
        return known

    def finish(self) -> None:
        for subscription_id, merged in self.statuses.items():
            status = merged.final_status()
            stmt = _status_update(
                event=merged.event,
                heartbeat=merged.heartbeat,
                status=status,
                promote=status is None and merged.contact,
                degraded=merged.degraded,
                fresh_count=merged.fresh_count,
            )
            self.conn.execute(stmt, {"sid": subscription_id, "now": self.now_value, "since": merged.since})
        self.statuses.clear()
        self.close()

    def close(self) -> None:
        self.cursor.close()


def subscription_scope(conn: Connection, subscription_id: str) -> str:
    """The EHR a subscription's data belong to (:func:`app.domain.tenancy.ehr_scope`)."""
    return ehr_scope(conn.execute(_HAS_EHR, {"sid": subscription_id}).scalar_one_or_none())


def _has_ehr(conn: Connection, subscription_id: str) -> bool:
    return conn.execute(_HAS_EHR, {"sid": subscription_id}).scalar_one_or_none() is not None


#: A job to create: dedupe key, event number, ordering key, focus, version (JSON in ``inbox.events``).
JobSpec = tuple[str | None, int | None, str, str | None, str | None]


def job_specs(subscription_id: str, note: Notification, *, ehr: str) -> list[JobSpec]:
    """One job per event of a notification that carries work, with the keys the request computes."""
    return [
        (dedupe_key(subscription_id, note, i, ehr=ehr), event.number, ordering_key(note, i), event.focus,
         event.focus_version)
        for i, event in enumerate(note.events)
    ]  # fmt: skip


def _pull_spec(subscription_id: str) -> JobSpec:
    return (None, None, f"subscription:{subscription_id}", None, None)


@cache
def _known_sql(n: int) -> str:
    marks = ", ".join(f":k{i}" for i in range(n))
    return (
        f"SELECT dedupe_key FROM job WHERE dedupe_key IN ({marks}) "  # noqa: S608 (placeholders only)
        f"UNION SELECT dedupe_key FROM inbox WHERE dedupe_key IN ({marks}) "
        f"UNION SELECT dedupe_key FROM inbox_key WHERE dedupe_key IN ({marks})"
    )


# -- expansion (the worker's duty) -------------------------------------------------------------

_PENDING_ROW = select(INBOX.c.id, INBOX.c.subscription_id, INBOX.c.ehr, INBOX.c.events, INBOX.c.received_at,
                      INBOX.c.status).where(INBOX.c.id == bindparam("id"))  # fmt: skip
_PENDING_SUBSCRIPTIONS = (
    select(INBOX.c.subscription_id)
    .where(INBOX.c.status == "pending")
    .group_by(INBOX.c.subscription_id)
    .order_by(func.min(INBOX.c.id))
    .limit(bindparam("limit"))
)
_MARK = update(INBOX).where(INBOX.c.id == bindparam("row_id"), INBOX.c.status == "pending")
_DROP_KEYS = delete(INBOX_KEY).where(INBOX_KEY.c.inbox_id == bindparam("row_id"))


@cache
def _pending_of(dialect: str) -> Any:
    stmt = (
        select(INBOX.c.id, INBOX.c.subscription_id, INBOX.c.ehr, INBOX.c.events, INBOX.c.received_at, INBOX.c.status)
        .where(
            INBOX.c.status == "pending", INBOX.c.subscription_id == bindparam("sid"), INBOX.c.id > bindparam("after")
        )
        .order_by(INBOX.c.id)
        .limit(bindparam("share"))
    )
    return stmt.with_for_update(skip_locked=True) if dialect == "postgresql" else stmt


@cache
def _insert_job(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(JOB).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(JOB.c.id)


def claim_pending(conn: Connection, *, limit: int) -> list[Any]:
    """Pending inbox rows, oldest first, an equal share per subscription (fair, as jobs are claimed).

    What a subscription with fewer rows leaves goes to the others. On PostgreSQL the rows are locked
    ``FOR UPDATE SKIP LOCKED``: another worker expanding at the same time takes other rows, and a row
    is expanded once. SQLite has one writer at a time.
    """
    active = list(conn.execute(_PENDING_SUBSCRIPTIONS, {"limit": limit}).scalars())
    stmt = _pending_of(conn.dialect.name)
    taken: dict[str, list[Any]] = {sid: [] for sid in active}
    total = 0
    while active and total < limit:
        share = -(-(limit - total) // len(active))
        filled = []
        for sid in active:
            after = taken[sid][-1].id if taken[sid] else 0
            got = conn.execute(stmt, {"sid": sid, "after": after, "share": min(share, limit - total)}).all()
            taken[sid] += got
            total += len(got)
            if got and len(got) == share:
                filled.append(sid)
            if total >= limit:
                break
        active = filled
    return sorted((row for rows in taken.values() for row in rows), key=lambda r: r.id)


def expand_row(conn: Connection, row: Any) -> int:
    """A pending inbox row's jobs (an event that already has a job is skipped), row marked ``expanded``.

    Returns how many jobs were created. Raises on a row that cannot be expanded (the caller isolates it).
    """
    specs = orjson.loads(row.events) if row.events else []
    at = row.received_at
    values = [
        {
            "inbox_id": row.id, "subscription_id": row.subscription_id, "ehr": row.ehr, "dedupe_key": dk,
            "event_number": number, "key": key, "focus": focus, "version_id": version, "status": "pending",
            "attempts": 0, "available_at": at, "created_at": at,
        }
        for dk, number, key, focus, version in specs
    ]  # fmt: skip
    stmt = _insert_job(conn.dialect.name)
    created = sum(conn.execute(stmt, v).first() is not None for v in values)
    conn.execute(_MARK.values(status="expanded"), {"row_id": row.id})
    if len(specs) > 1:  # a multi-event row: its keys in ``inbox_key`` go, its jobs hold them now
        conn.execute(_DROP_KEYS, {"row_id": row.id})
    return created


def mark_dead(conn: Connection, row_id: int, reason: str) -> None:
    """An inbox row that cannot be expanded: kept with its reason, out of the way of the others.

    Its multi-event keys go: a later copy of one of its events is new work (as the gap recovery's
    re-fetch is), not a duplicate of a row that made no job."""
    conn.execute(_MARK.values(status="dead", last_error=reason[:2000]), {"row_id": row_id})
    conn.execute(_DROP_KEYS, {"row_id": row_id})


def inbox_counts(conn: Connection) -> dict[str, int]:
    """Inbox rows ``pending`` (waiting for expansion) and ``dead`` (expansion failed)."""
    stmt = select(INBOX.c.status, func.count()).where(INBOX.c.status != "expanded").group_by(INBOX.c.status)
    return {str(status): int(n) for status, n in conn.execute(stmt).all()}


@cache
def _status_update(
    *, event: bool, heartbeat: bool, status: str | None, promote: bool, degraded: bool, fresh_count: bool
) -> Any:
    """Health timestamps, status (``promote``: ``requested`` becomes ``active``), and the highest event number seen."""
    values: dict[str, Any] = {}
    if event:
        values["last_event_at"] = bindparam("now")
    if heartbeat:
        values["last_heartbeat_at"] = bindparam("now")
    if status is not None:
        values["status"] = status
    elif promote:
        values["status"] = case((SUB.c.status == "requested", "active"), else_=SUB.c.status)
    if degraded:
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
