"""EHR connectivity statements: the EHR registry, per-subscription gap tracking, pulls and deferrals.

- ``ehr``               what ``claimbridge ehrs add|list`` store and the worker reads (cached per process),
                        and the scopes its last token lacked (``missing_scopes``; empty: all granted);
- ``subscription``      gap-tracking columns (``events_checked``, ``gap_seen_at``, ``last_checked_at``,
                        ``pulled_through``) read and moved by the worker's sweep;
- ``subscription_gap``  one row per gap found (missed event numbers, or a silence), closed when repaired;
- ``job``               the few job statements that belong to EHR work: which event numbers arrived,
                        coalescing pending notified-pull jobs that a pull just covered, and honouring
                        a server's ``Retry-After`` on a retried job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, or_, select, update

from app.db.models import Ehr, Inbox, Job, Subscription, SubscriptionGap
from app.db.sql import as_utc

EHR = Ehr.__table__  # type: ignore[attr-defined]
SUB = Subscription.__table__  # type: ignore[attr-defined]
GAP = SubscriptionGap.__table__  # type: ignore[attr-defined]
JOB = Job.__table__  # type: ignore[attr-defined]
INBOX = Inbox.__table__  # type: ignore[attr-defined]
DEFAULT_TYPES = ("Encounter", "Coverage", "ServiceRequest", "MedicationRequest", "ChargeItem", "Procedure")


@dataclass(frozen=True)
class EhrRecord:
    name: str
    base_url: str
    auth: str  # none | smart-backend
    client_id: str | None = None
    key_path: str | None = None
    supports_events: bool = False
    plain_criteria: bool = False
    topics: dict[str, str] | None = None
    missing_scopes: tuple[str, ...] | None = None  # None: no token seen yet; () all granted

    @property
    def degraded(self) -> bool:
        """The EHR granted less than claimbridge asked for: some work will be refused."""
        return bool(self.missing_scopes)


@dataclass(frozen=True)
class SubscriptionInfo:
    id: str
    ehr: str | None
    content: str | None
    resource_types: tuple[str, ...]
    pulled_through: str | None


@dataclass(frozen=True)
class SweepState:
    id: str  # the internal key (what jobs and gaps name)
    ehr: str | None
    status: str
    health: str
    events_since_start: int
    events_checked: int | None
    gap_seen_at: datetime | None
    heartbeat_period: int | None
    last_contact: datetime
    resource_types: tuple[str, ...]
    fhir_id: str = ""  # the Subscription's id at the EHR ($status, $events, reactivation)


@dataclass(frozen=True)
class Gap:
    id: int
    subscription_id: str
    kind: str  # events | silence
    first_number: int | None
    last_number: int | None
    detected_at: datetime
    attempts: int


# -- EHR registry -------------------------------------------------------------------------------


def add_ehr(conn: Connection, record: EhrRecord, *, now: datetime) -> bool:
    """Register an EHR, or replace the settings of one with that name. True if it was new."""
    values: dict[str, Any] = {
        "base_url": record.base_url.rstrip("/"),
        "auth": record.auth,
        "client_id": record.client_id,
        "key_path": record.key_path,
        "supports_events": record.supports_events,
        "plain_criteria": record.plain_criteria,
        "topics": dict(record.topics or {}),
        "missing_scopes": None if record.missing_scopes is None else list(record.missing_scopes),
    }
    if conn.execute(select(EHR.c.name).where(EHR.c.name == record.name)).first():
        conn.execute(update(EHR).where(EHR.c.name == record.name).values(**values))
        return False
    conn.execute(EHR.insert().values(name=record.name, created_at=now, **values))
    return True


def get_ehr(conn: Connection, name: str) -> EhrRecord | None:
    row = conn.execute(select(EHR).where(EHR.c.name == name)).first()
    return _ehr(row) if row else None


def list_ehrs(conn: Connection) -> list[EhrRecord]:
    return [_ehr(r) for r in conn.execute(select(EHR).order_by(EHR.c.name))]


def _ehr(row: Any) -> EhrRecord:
    return EhrRecord(
        name=row.name,
        base_url=row.base_url,
        auth=row.auth,
        client_id=row.client_id,
        key_path=row.key_path,
        supports_events=bool(row.supports_events),
        plain_criteria=bool(row.plain_criteria),
        topics={str(k): str(v) for k, v in (row.topics or {}).items()},
        missing_scopes=None if row.missing_scopes is None else tuple(str(s) for s in row.missing_scopes),
    )


def set_topics(conn: Connection, name: str, topics: dict[str, str]) -> None:
    """Store the topic chosen for each resource type (after reading the EHR's topic definitions)."""
    conn.execute(update(EHR).where(EHR.c.name == name).values(topics=dict(topics)))


def set_missing_scopes(conn: Connection, name: str, missing: tuple[str, ...]) -> None:
    """Record what the EHR's latest token lacked (empty: everything asked for was granted)."""
    conn.execute(update(EHR).where(EHR.c.name == name).values(missing_scopes=list(missing)))


def delete_subscription(conn: Connection, subscription_id: str) -> None:
    """Forget a subscription this process registered a moment ago (its create was rolled back)."""
    conn.execute(GAP.delete().where(GAP.c.subscription_id == subscription_id))
    conn.execute(SUB.delete().where(SUB.c.id == subscription_id))


# -- subscriptions ------------------------------------------------------------------------------


def parse_types(value: str | None) -> tuple[str, ...]:
    types = tuple(t.strip() for t in (value or "").split(",") if t.strip())
    return types or DEFAULT_TYPES


_SUBSCRIPTION_INFO = select(SUB.c.id, SUB.c.ehr, SUB.c.content, SUB.c.resource_types, SUB.c.pulled_through)


def subscription_info(conn: Connection, subscription_id: str) -> SubscriptionInfo | None:
    return subscription_infos(conn, [subscription_id]).get(subscription_id)


def subscription_infos(conn: Connection, subscription_ids: Iterable[str]) -> dict[str, SubscriptionInfo]:
    """The subscriptions of ``subscription_ids`` that are stored, in one query."""
    wanted = sorted(set(subscription_ids))
    if not wanted:
        return {}
    rows = conn.execute(_SUBSCRIPTION_INFO.where(SUB.c.id.in_(wanted)))
    return {
        r.id: SubscriptionInfo(r.id, r.ehr, r.content, parse_types(r.resource_types), r.pulled_through) for r in rows
    }


def sweep_states(conn: Connection, *, subscription_id: str | None = None) -> list[SweepState]:
    stmt = select(SUB).order_by(SUB.c.id)
    if subscription_id is not None:
        stmt = stmt.where(SUB.c.id == subscription_id)
    out = []
    for r in conn.execute(stmt):
        contacts = [as_utc(t) for t in (r.last_heartbeat_at, r.last_event_at, r.last_checked_at, r.created_at)]
        out.append(
            SweepState(
                id=r.id,
                ehr=r.ehr,
                status=r.status,
                health=r.health,
                events_since_start=int(r.events_since_start or 0),
                events_checked=r.events_checked,
                gap_seen_at=as_utc(r.gap_seen_at),
                heartbeat_period=r.heartbeat_period_seconds,
                last_contact=max(t for t in contacts if t is not None),
                resource_types=parse_types(r.resource_types),
                fhir_id=r.fhir_id,
            )
        )
    return out


def claim_sweep(conn: Connection, subscription_id: str, *, now: datetime, until: datetime) -> bool:
    """Take the subscription's sweep until ``until`` unless another worker holds it; True if taken."""
    free = or_(SUB.c.sweep_until.is_(None), SUB.c.sweep_until <= now)
    result = conn.execute(update(SUB).where(SUB.c.id == subscription_id, free).values(sweep_until=until))
    return result.rowcount == 1


def set_sweep_until(conn: Connection, subscription_id: str, until: datetime) -> None:
    conn.execute(update(SUB).where(SUB.c.id == subscription_id).values(sweep_until=until))


def set_checked(conn: Connection, subscription_id: str, *, checked: int, gap_seen_at: datetime | None) -> None:
    conn.execute(update(SUB).where(SUB.c.id == subscription_id).values(events_checked=checked, gap_seen_at=gap_seen_at))


def set_health(conn: Connection, subscription_id: str, health: str) -> None:
    conn.execute(update(SUB).where(SUB.c.id == subscription_id).values(health=health))


def record_remote_status(
    conn: Connection, subscription_id: str, *, status: str, events_since_start: int | None, now: datetime
) -> None:
    """What the EHR's ``$status`` said: its status, its event counter (kept as a high-water mark)."""
    conn.execute(update(SUB).where(SUB.c.id == subscription_id).values(status=status, last_checked_at=now))
    if events_since_start is not None:
        conn.execute(
            update(SUB)
            .where(SUB.c.id == subscription_id, SUB.c.events_since_start < events_since_start)
            .values(events_since_start=events_since_start)
        )


def received_numbers(conn: Connection, subscription_id: str, *, above: int, upto: int) -> set[int]:
    """Event numbers in ``(above, upto]`` that have a job (received, or recovered), or are in an
    acknowledged inbox row the worker has not expanded yet (received: never a gap)."""
    stmt = select(JOB.c.event_number).where(
        JOB.c.subscription_id == subscription_id, JOB.c.event_number > above, JOB.c.event_number <= upto
    )
    numbers = {int(n) for n in conn.execute(stmt).scalars()}
    pending = select(INBOX.c.events).where(INBOX.c.status == "pending", INBOX.c.subscription_id == subscription_id)
    for events in conn.execute(pending).scalars():
        for spec in orjson.loads(events) if events else ():
            if isinstance(spec[1], int) and above < spec[1] <= upto:
                numbers.add(spec[1])
    return numbers


def inbox_of_event(conn: Connection, subscription_id: str, number: int) -> int | None:
    stmt = select(JOB.c.inbox_id).where(JOB.c.subscription_id == subscription_id, JOB.c.event_number == number)
    value = conn.execute(stmt.limit(1)).scalar_one_or_none()
    return int(value) if value is not None else None


def first_number(conn: Connection, subscription_id: str) -> int | None:
    stmt = select(func.min(JOB.c.event_number)).where(JOB.c.subscription_id == subscription_id)
    value = conn.execute(stmt).scalar_one_or_none()
    return int(value) if value is not None else None


# -- gaps ---------------------------------------------------------------------------------------


def open_gaps(conn: Connection, subscription_id: str, *, with_failed: bool = False) -> list[Gap]:
    """The gaps still to repair (``with_failed``: and those whose recovery stopped)."""
    statuses = ("open", "failed") if with_failed else ("open",)
    stmt = select(GAP).where(GAP.c.subscription_id == subscription_id, GAP.c.status.in_(statuses)).order_by(GAP.c.id)
    return [
        Gap(
            r.id,
            r.subscription_id,
            r.kind,
            r.first_number,
            r.last_number,
            as_utc(r.detected_at) or r.detected_at,
            r.attempts,
        )
        for r in conn.execute(stmt)
    ]


def record_gap(
    conn: Connection,
    subscription_id: str,
    *,
    kind: str,
    first: int | None,
    last: int | None,
    now: datetime,
    detail: str | None = None,
) -> int:
    values = {
        "subscription_id": subscription_id,
        "kind": kind,
        "first_number": first,
        "last_number": last,
        "status": "open",
        "detected_at": now,
        "attempts": 0,
        "failures": 0,
        "detail": detail,
    }
    return int(conn.execute(GAP.insert().values(**values).returning(GAP.c.id)).scalar_one())


def close_gap(conn: Connection, gap_id: int, *, now: datetime, detail: str) -> None:
    conn.execute(update(GAP).where(GAP.c.id == gap_id).values(status="repaired", repaired_at=now, detail=detail[:500]))


def note_gap_attempt(conn: Connection, gap_id: int, *, detail: str, fatal: bool = False, limit: int = 0) -> str:
    """Count a failed recovery; the ``limit``-th non-temporary (``fatal``) one marks the gap ``failed``."""
    failures = GAP.c.failures + (1 if fatal else 0)
    conn.execute(
        update(GAP)
        .where(GAP.c.id == gap_id)
        .values(attempts=GAP.c.attempts + 1, failures=failures, detail=detail[:500])
    )
    if fatal:
        conn.execute(
            update(GAP)
            .where(GAP.c.id == gap_id, GAP.c.status == "open", GAP.c.failures >= limit)
            .values(status="failed")
        )
    return str(conn.execute(select(GAP.c.status).where(GAP.c.id == gap_id)).scalar_one())


def failed_gap_count(conn: Connection, subscription_id: str | None = None) -> int:
    """Gaps whose recovery stopped (``failed``): of one subscription, or of all."""
    stmt = select(func.count()).select_from(GAP).where(GAP.c.status == "failed")
    if subscription_id is not None:
        stmt = stmt.where(GAP.c.subscription_id == subscription_id)
    return int(conn.execute(stmt).scalar_one())


def list_gaps(conn: Connection, *, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    stmt = select(GAP).order_by(GAP.c.id.desc()).limit(limit)
    rows = conn.execute(stmt if status is None else stmt.where(GAP.c.status == status)).all()
    return [dict(r._mapping) for r in rows]


def gap_status(conn: Connection, gap_id: int) -> str | None:
    value = conn.execute(select(GAP.c.status).where(GAP.c.id == gap_id)).scalar_one_or_none()
    return str(value) if value is not None else None


def retry_gap(conn: Connection, gap_id: int) -> bool:
    """Reopen a ``failed`` gap (after a fix) with a fresh count; False when it is not failed."""
    stmt = update(GAP).where(GAP.c.id == gap_id, GAP.c.status == "failed").values(status="open", failures=0)
    return bool(conn.execute(stmt).rowcount)


# -- pull mark ----------------------------------------------------------------------------------


def advance_pull_mark(conn: Connection, subscription_id: str, mark: str) -> None:
    """Move the subscription's pull mark forward to ``mark`` (never back)."""
    row = conn.execute(select(SUB.c.pulled_through).where(SUB.c.id == subscription_id)).first()
    if row is not None and (row.pulled_through is None or row.pulled_through < mark):
        conn.execute(update(SUB).where(SUB.c.id == subscription_id).values(pulled_through=mark))
