"""Job queue statements: claim with leases, finish, fail with backoff, dead letters, replay.

Claiming takes jobs whose lease is free, an equal share per subscription with pending jobs, in
turns (oldest first within each: a flood from one subscription does not starve another), and never
a job that has an earlier pending job with the same ordering key (per-encounter order). On PostgreSQL the claim uses
``FOR UPDATE SKIP LOCKED`` so several workers never take the same job; on SQLite the claim runs in a
``BEGIN IMMEDIATE`` transaction, which serialises writers. A job is finished in the same transaction
as its results, and only by the worker that still holds its lease: exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from itertools import zip_longest
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import aliased

from app.db.models import Inbox, Job
from app.db.sql import as_utc
from app.domain.tenancy import DEFAULT_EHR
from app.errors import TemporaryError

JOB = Job.__table__  # type: ignore[attr-defined]
INBOX = Inbox.__table__  # type: ignore[attr-defined]


_INBOX_BODY = select(INBOX.c.body).where(INBOX.c.id == bindparam("id"))
_INBOX_BODIES = select(INBOX.c.id, INBOX.c.body).where(INBOX.c.id.in_(bindparam("ids", expanding=True)))
_FINISH = (
    update(JOB)
    .where(JOB.c.id == bindparam("job_id"), JOB.c.status == "pending", JOB.c.locked_by == bindparam("worker"))
    .values(status="done", result=bindparam("result"), finished_at=bindparam("now"), locked_until=None)
)


class LeaseLost(TemporaryError, RuntimeError):
    """The job was finished or re-claimed by someone else; the caller must roll back."""


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    inbox_id: int
    subscription_id: str
    key: str
    focus: str | None
    version_id: str | None
    event_number: int | None
    attempts: int
    ehr: str = DEFAULT_EHR  # whose data the job reads and writes (app.domain.tenancy)


def claim_jobs(conn: Connection, *, worker: str, now: datetime, lease: float, limit: int) -> list[ClaimedJob]:
    """Lease up to ``limit`` due jobs, fairly across subscriptions.

    The subscriptions with pending jobs (oldest pending job first, at most ``limit`` of them) each
    get an equal share of the batch (what one leaves goes to the others), oldest first within each,
    taken in turns (a1 b1 c1 a2 b2 ...);
    so a flood of jobs from one subscription never starves another's. A job with an earlier pending
    job of the same ordering key (per EHR) is never taken.
    """
    subscriptions = list(conn.execute(_ACTIVE_SUBSCRIPTIONS, {"limit": limit}).scalars())
    stmt = _claimable(conn.dialect.name)
    taken: dict[str, list[Any]] = {sid: [] for sid in subscriptions}
    active, total = subscriptions, 0
    while active and total < limit:  # a subscription with fewer jobs leaves its share to the others
        share = -(-(limit - total) // len(active))
        filled = []
        for sid in active:
            after = taken[sid][-1].id if taken[sid] else 0
            got = conn.execute(stmt, {"sid": sid, "now": now, "after": after, "share": share}).all()
            taken[sid] += got
            total += len(got)
            if len(got) == share:
                filled.append(sid)
        active = filled
    rows = [row for turn in zip_longest(*taken.values()) for row in turn if row is not None][:limit]
    if not rows:
        return []
    until = now + timedelta(seconds=lease)
    conn.execute(update(JOB).where(JOB.c.id.in_([r.id for r in rows])).values(locked_by=worker, locked_until=until))
    return [
        ClaimedJob(r.id, r.inbox_id, r.subscription_id, r.key, r.focus, r.version_id, r.event_number, r.attempts, r.ehr)
        for r in rows
    ]


_ACTIVE_SUBSCRIPTIONS = (
    select(JOB.c.subscription_id)
    .where(JOB.c.status == "pending")
    .group_by(JOB.c.subscription_id)
    .order_by(func.min(JOB.c.id))
    .limit(bindparam("limit"))
)


@cache
def _claimable(dialect: str) -> Any:
    """One subscription's claimable jobs, oldest first (locked and skipping locked rows on PostgreSQL)."""
    earlier = aliased(JOB)
    blocked = (
        select(earlier.c.id)
        .where(
            earlier.c.key == JOB.c.key,
            earlier.c.ehr == JOB.c.ehr,
            earlier.c.status == "pending",
            earlier.c.id < JOB.c.id,
        )
        .exists()
    )
    now: Any = bindparam("now")
    stmt = (
        select(JOB)
        .where(
            JOB.c.subscription_id == bindparam("sid"),
            JOB.c.id > bindparam("after"),
            JOB.c.status == "pending",
            JOB.c.available_at <= now,
            or_(JOB.c.locked_until.is_(None), JOB.c.locked_until < now),
            ~blocked,
        )
        .order_by(JOB.c.id)
        .limit(bindparam("share"))
    )
    return stmt.with_for_update(skip_locked=True, of=JOB) if dialect == "postgresql" else stmt


def finish_job(conn: Connection, *, job_id: int, worker: str, result: str, now: datetime) -> None:
    finish_jobs(conn, [(job_id, result)], worker=worker, now=now)


def finish_jobs(conn: Connection, results: list[tuple[int, str]], *, worker: str, now: datetime) -> None:
    """Mark jobs done with their results (one executemany); LeaseLost unless every one was still ours."""
    # locked_by stays: it records which worker did the job
    rows = [{"job_id": job_id, "worker": worker, "result": result[:200], "now": now} for job_id, result in results]
    if not rows:
        return
    done = conn.execute(_FINISH, rows)
    if done.rowcount != len(rows):
        ids = ", ".join(str(job_id) for job_id, _ in results[:5])
        raise LeaseLost(f"job {ids} is no longer leased to {worker}" if len(rows) == 1 else f"jobs {ids}...: "
                        f"{len(rows) - done.rowcount} of {len(rows)} no longer leased to {worker}")  # fmt: skip


def fail_job(
    conn: Connection,
    *,
    job_id: int,
    worker: str,
    error: str,
    retry_at: datetime | None,
    now: datetime,
    attempted: bool = True,
) -> str:
    """Record a failed attempt: back to pending at ``retry_at``, or dead when ``retry_at`` is None.

    ``attempted=False`` (nothing was sent: a partner's Retry-After held the call) defers the job
    without counting an attempt."""
    values: dict[str, object] = {
        "attempts": JOB.c.attempts + (1 if attempted else 0),
        "last_error": error[:2000],
        "locked_by": None,
        "locked_until": None,
    }
    if retry_at is None:
        values.update(status="dead", finished_at=now)
    else:
        values.update(available_at=retry_at)
    conn.execute(
        update(JOB).where(JOB.c.id == job_id, JOB.c.status == "pending", JOB.c.locked_by == worker).values(**values)
    )
    return "dead" if retry_at is None else "retry"


def inbox_body(conn: Connection, inbox_id: int) -> bytes:
    return bytes(conn.execute(_INBOX_BODY, {"id": inbox_id}).scalar_one())


def inbox_bodies(conn: Connection, inbox_ids: Iterable[int]) -> dict[int, bytes]:
    """The stored bodies of ``inbox_ids`` in one query; a missing one raises ``NoResultFound``."""
    wanted = sorted(set(inbox_ids))
    if not wanted:
        return {}
    found = {int(r.id): bytes(r.body) for r in conn.execute(_INBOX_BODIES, {"ids": wanted})}
    if missing := [i for i in wanted if i not in found]:
        raise NoResultFound(f"inbox rows not stored: {missing[:5]}")
    return found


@dataclass(frozen=True)
class DeadLetter:
    id: int
    inbox_id: int
    subscription_id: str
    focus: str | None
    version_id: str | None
    event_number: int | None
    attempts: int
    reason: str | None
    failed_at: datetime | None


def list_dead(conn: Connection, *, limit: int = 500) -> list[DeadLetter]:
    rows = conn.execute(select(JOB).where(JOB.c.status == "dead").order_by(JOB.c.id).limit(limit)).all()
    return [
        DeadLetter(
            r.id,
            r.inbox_id,
            r.subscription_id,
            r.focus,
            r.version_id,
            r.event_number,
            r.attempts,
            r.last_error,
            as_utc(r.finished_at),
        )
        for r in rows
    ]


def replay(conn: Connection, *, job_ids: list[int] | None, now: datetime) -> int:
    """Put dead jobs (the given ids, or all) back in the queue with a fresh attempt budget."""
    where = [JOB.c.status == "dead"]
    if job_ids is not None:
        where.append(JOB.c.id.in_(job_ids))
    result = conn.execute(
        update(JOB)
        .where(and_(*where))
        .values(status="pending", attempts=0, available_at=now, finished_at=None, locked_by=None, locked_until=None)
    )
    return int(result.rowcount)


@dataclass(frozen=True)
class QueueStats:
    pending: int
    dead: int
    oldest_pending_at: datetime | None


def queue_stats(conn: Connection) -> QueueStats:
    pending, oldest = conn.execute(
        select(func.count(), func.min(JOB.c.created_at)).where(JOB.c.status == "pending")
    ).one()
    dead = conn.execute(select(func.count()).where(JOB.c.status == "dead")).scalar_one()
    return QueueStats(int(pending), int(dead), as_utc(oldest))


_JOB_PENDING = select(JOB.c.id).where(JOB.c.status == "pending").limit(1)
_INBOX_PENDING = select(INBOX.c.id).where(INBOX.c.status == "pending").limit(1)


def work_waiting(conn: Connection) -> bool:
    """Whether notification work waits: a pending job, or a pending inbox row (jobs not expanded yet).

    Two index probes (``ix_job_claimable``, ``ix_inbox_status``), no count: asked every eligibility round.
    """
    return conn.execute(_JOB_PENDING).first() is not None or conn.execute(_INBOX_PENDING).first() is not None


def count_by_status(conn: Connection) -> dict[str, int]:
    return {s: int(n) for s, n in conn.execute(select(JOB.c.status, func.count()).group_by(JOB.c.status)).all()}


def coalesce_pull_jobs(conn: Connection, *, subscription_id: str, job_id: int, key: str, started_at: datetime) -> int:
    """Finish the pending pull jobs a notified pull covered; returns how many.

    A pending focus-less job of the same subscription stored before the pull began stands for a
    change the EHR had already made, so the pull's search saw it.
    """
    covered = conn.execute(
        update(JOB)
        .where(
            JOB.c.subscription_id == subscription_id,
            JOB.c.key == key,
            JOB.c.focus.is_(None),
            JOB.c.status == "pending",
            JOB.c.id != job_id,
            JOB.c.created_at <= started_at,
            JOB.c.locked_until.is_(None),
        )
        .values(status="done", result=f"coalesced:{job_id}", finished_at=started_at)
    )
    return int(covered.rowcount)
