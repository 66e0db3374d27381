"""Outbox statements: side effects written with the claim, delivered and retried one by one.

A delivery that failed for good is ``dead`` (its reason in ``last_error``); :func:`replay` puts it
back with a fresh attempt budget and the SAME ``key`` and payload, so a delivery that had reached
its receiver is no second side effect: the clearinghouse sees the same ``Idempotency-Key``, the EHR
write-back conditionally creates on the identifier inside the unchanged payload (``If-None-Exist``),
a folder adapter overwrites the file named after the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from app.db.models import Outbox
from app.db.sql import as_utc

OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_INSERT = OUTBOX.insert()
_INSERT_RETURNING_ID = OUTBOX.insert().returning(OUTBOX.c.id)


@dataclass(frozen=True)
class Delivery:
    id: int
    destination: str
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int


def enqueue(conn: Connection, *, destination: str, kind: str, key: str, payload: dict[str, Any], now: datetime) -> int:
    """One pending delivery (a side effect of the caller's transaction); returns its id."""
    values = {
        "destination": destination,
        "kind": kind,
        "key": key,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "available_at": now,
        "created_at": now,
    }
    return int(conn.execute(_INSERT_RETURNING_ID, values).scalar_one())


def due(
    conn: Connection,
    *,
    now: datetime,
    limit: int,
    skip_destinations: frozenset[str] = frozenset(),
    lease_until: datetime | None = None,
) -> list[Delivery]:
    """Pending rows due at ``now``. With ``lease_until`` they are claimed in the caller's transaction
    (their ``available_at`` moved to it): another worker's round no longer sees them once that
    transaction commits, and a worker that dies with them leaves them due again when the lease ends
    (at-least-once). Without it (a listing), nothing is changed."""
    stmt = (
        select(OUTBOX)
        .where(OUTBOX.c.status == "pending", OUTBOX.c.available_at <= now)
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    if skip_destinations:
        stmt = stmt.where(OUTBOX.c.destination.not_in(sorted(skip_destinations)))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = [Delivery(r.id, r.destination, r.kind, r.key, dict(r.payload), r.attempts) for r in conn.execute(stmt)]
    if lease_until is not None and rows:
        conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.id for r in rows])).values(available_at=lease_until))
    return rows


def release(conn: Connection, delivery_ids: list[int], *, now: datetime) -> None:
    """Claimed rows a round did not attempt (an open breaker): due again at once, not at the lease's end."""
    if delivery_ids:
        conn.execute(
            update(OUTBOX).where(OUTBOX.c.id.in_(delivery_ids), OUTBOX.c.status == "pending").values(available_at=now)
        )


def mark_delivered(conn: Connection, delivery_id: int, *, now: datetime) -> None:
    conn.execute(update(OUTBOX).where(OUTBOX.c.id == delivery_id).values(status="delivered", delivered_at=now))


def mark_delivered_many(conn: Connection, delivery_ids: list[int], *, now: datetime) -> None:
    if delivery_ids:
        conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(delivery_ids)).values(status="delivered", delivered_at=now))


def mark_failed(
    conn: Connection, delivery_id: int, *, error: str, retry_at: datetime | None, attempted: bool = True
) -> None:
    """Back to pending at ``retry_at`` (dead when None); ``attempted=False`` (nothing was sent) counts no attempt."""
    values: dict[str, Any] = {"attempts": OUTBOX.c.attempts + (1 if attempted else 0), "last_error": error[:2000]}
    if retry_at is None:
        values["status"] = "dead"
    else:
        values["available_at"] = retry_at
    conn.execute(update(OUTBOX).where(OUTBOX.c.id == delivery_id).values(**values))


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)).all()
    return {s: int(n) for s, n in rows}


@dataclass(frozen=True)
class DeadDelivery:
    id: int
    destination: str
    kind: str
    key: str
    attempts: int
    reason: str | None
    created_at: datetime | None


def list_dead(conn: Connection, *, limit: int = 500) -> list[DeadDelivery]:
    """Dead deliveries, oldest first (``ix_outbox_claimable`` leads with the status); no payload (it may hold PHI)."""
    columns = (OUTBOX.c.id, OUTBOX.c.destination, OUTBOX.c.kind, OUTBOX.c.key, OUTBOX.c.attempts,
               OUTBOX.c.last_error, OUTBOX.c.created_at)  # fmt: skip
    rows = conn.execute(select(*columns).where(OUTBOX.c.status == "dead").order_by(OUTBOX.c.id).limit(limit)).all()
    return [
        DeadDelivery(r.id, r.destination, r.kind, r.key, r.attempts, r.last_error, as_utc(r.created_at)) for r in rows
    ]


def replay(conn: Connection, *, ids: list[int] | None, now: datetime) -> int:
    """Dead deliveries (the given ids, or all) due again at ``now`` with a fresh attempt budget; key unchanged."""
    where = [OUTBOX.c.status == "dead"]
    if ids is not None:
        where.append(OUTBOX.c.id.in_(ids))
    result = conn.execute(update(OUTBOX).where(and_(*where)).values(status="pending", attempts=0, available_at=now))
    return int(result.rowcount)
