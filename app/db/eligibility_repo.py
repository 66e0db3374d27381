"""Eligibility statements: request verifications (idempotent), claim the due ones, store results, read them.

A verification is one ``eligibility_check`` row, unique per (coverage, service_date, trigger):
requesting it twice changes nothing. The duty (:mod:`app.eligibility.duty`) claims due rows with a
lease in a short transaction, calls the payer with no transaction open, then stores the result in
another one. Claiming uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several workers never run
the same check; a check whose lease ran out (the worker died mid-call) is claimable again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update

from app.db.models import EligibilityCheck, Resource
from app.db.sql import insert_ignore, iso
from app.domain.eligibility import CheckKey, EligibilityResult

CHECK = EligibilityCheck.__table__  # type: ignore[attr-defined]
RES = Resource.__table__  # type: ignore[attr-defined]
#: A verification that counts as one for the stale rule (an answer from the payer).
ANSWERED = ("active", "inactive", "error")


@dataclass(frozen=True)
class DueCheck:
    id: int
    coverage: str
    service_date: date
    trigger: str
    patient: str
    payer_id: str
    encounter: str | None
    appointment: str | None
    attempts: int


def request_checks(conn: Connection, keys: Iterable[CheckKey], *, now: datetime) -> list[int]:
    """Insert the verifications not already known; returns the ids of the new ones."""
    rows = [
        {
            "coverage": k.coverage,
            "service_date": k.service_date,
            "trigger": k.trigger,
            "patient": k.patient,
            "payer_id": k.payer_id,
            "encounter": k.encounter,
            "appointment": k.appointment,
            "status": "pending",
            "due_at": k.due_at,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for k in keys
    ]
    return insert_ignore(conn, CHECK, rows, ["coverage", "service_date", "trigger"], "id")


def claim_due(conn: Connection, *, now: datetime, lease: float, limit: int) -> list[DueCheck]:
    """Lease up to ``limit`` due verifications (pending, or running with an expired lease)."""
    if limit <= 0:
        return []
    stmt = (
        select(CHECK)
        .where(
            or_(
                (CHECK.c.status == "pending") & (CHECK.c.due_at <= now),
                (CHECK.c.status == "running") & (CHECK.c.locked_until < now),
            )
        )
        .order_by(CHECK.c.due_at, CHECK.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = conn.execute(stmt).all()
    if not rows:
        return []
    conn.execute(
        update(CHECK)
        .where(CHECK.c.id.in_([r.id for r in rows]))
        .values(
            status="running",
            locked_until=now + timedelta(seconds=lease),
            attempts=CHECK.c.attempts + 1,
            updated_at=now,
        )
    )
    return [
        DueCheck(
            r.id,
            r.coverage,
            r.service_date,
            r.trigger,
            r.patient,
            r.payer_id,
            r.encounter,
            r.appointment,
            r.attempts + 1,
        )
        for r in rows
    ]


def finish(conn: Connection, check_id: int, result: EligibilityResult, *, now: datetime) -> None:
    conn.execute(
        update(CHECK)
        .where(CHECK.c.id == check_id)
        .values(
            status="done",
            locked_until=None,
            result_status=result.status,
            result=result.to_dict(),
            checked_at=datetime.fromisoformat(result.checked_at),
            latency_seconds=result.latency_seconds,
            source=result.source,
            reevaluated_at=None,
            updated_at=now,
        )
    )


def pending_reevaluation(conn: Connection, *, limit: int) -> list[tuple[int, str, str | None]]:
    """(id, coverage, encounter) of stored results whose claims were not re-evaluated yet, oldest first."""
    rows = conn.execute(
        select(CHECK.c.id, CHECK.c.coverage, CHECK.c.encounter)
        .where(CHECK.c.status == "done", CHECK.c.reevaluated_at.is_(None))
        .order_by(CHECK.c.checked_at, CHECK.c.id)
        .limit(limit)
    ).all()
    return [(r.id, r.coverage, r.encounter) for r in rows]


def mark_reevaluated(conn: Connection, check_ids: list[int], *, now: datetime) -> None:
    if check_ids:
        conn.execute(update(CHECK).where(CHECK.c.id.in_(check_ids)).values(reevaluated_at=now))


def skip(conn: Connection, check_id: int, *, reason: str, now: datetime) -> None:
    """Nothing to verify any more (appointment cancelled, coverage gone, payer without an endpoint)."""
    conn.execute(
        update(CHECK)
        .where(CHECK.c.id == check_id)
        .values(status="skipped", locked_until=None, result={"reason": reason[:300]}, updated_at=now)
    )


def record(conn: Connection, key: CheckKey, result: EligibilityResult, *, now: datetime) -> int:
    """Store a verification run outside the queue (``claimbridge eligibility check``); returns its id."""
    request_checks(conn, [key], now=now)
    check_id = int(
        conn.execute(
            select(CHECK.c.id).where(
                CHECK.c.coverage == key.coverage,
                CHECK.c.service_date == key.service_date,
                CHECK.c.trigger == key.trigger,
            )
        ).scalar_one()
    )
    finish(conn, check_id, result, now=now)
    return check_id


# By patient only, the status tested on the rows: with ``status = 'done'`` in the WHERE clause SQLite
# chose the (status, ...) index and walked every answered check of every patient, per encounter.
_PATIENT_CHECKS = (
    select(CHECK.c.status, CHECK.c.result)
    .where(CHECK.c.patient == bindparam("patient"))
    .order_by(CHECK.c.checked_at.desc(), CHECK.c.id.desc())
)


def results_for_patient(conn: Connection, patient: str | None, *, limit: int = 50) -> tuple[dict[str, Any], ...]:
    """Stored results for the patient's coverages, oldest first (the rules read the latest per coverage)."""
    if not patient:
        return ()
    done = (r.result for r in conn.execute(_PATIENT_CHECKS, {"patient": patient}) if r.status == "done")
    return tuple(dict(result) for result in reversed(list(itertools.islice(done, limit))))


def has_fresh_answer(conn: Connection, coverage: str, *, since: datetime) -> bool:
    """True when the payer answered about ``coverage`` at or after ``since``."""
    found = conn.execute(
        select(CHECK.c.id)
        .where(CHECK.c.coverage == coverage, CHECK.c.result_status.in_(ANSWERED), CHECK.c.checked_at >= since)
        .limit(1)
    ).first()
    return found is not None


def list_checks(
    conn: Connection, *, patient: str | None = None, coverage: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    stmt = select(CHECK).order_by(CHECK.c.updated_at.desc(), CHECK.c.id.desc()).limit(limit)
    if patient:
        stmt = stmt.where(CHECK.c.patient == patient)
    if coverage:
        stmt = stmt.where(CHECK.c.coverage == coverage)
    return [_view(r) for r in conn.execute(stmt).all()]


def _view(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "coverage": r.coverage,
        "patient": r.patient,
        "payer": r.payer_id,
        "service_date": r.service_date.isoformat(),
        "trigger": r.trigger,
        "state": r.status,
        "status": r.result_status,
        "checked_at": iso(r.checked_at),
        "latency_seconds": r.latency_seconds,
        "source": r.source,
        "encounter": r.encounter,
        "appointment": r.appointment,
        "result": dict(r.result) if r.result else None,
    }


def counts(conn: Connection) -> dict[str, int]:
    """Verifications by result status (``pending`` / ``running`` / ``skipped`` for those without one)."""
    label = func.coalesce(CHECK.c.result_status, CHECK.c.status)
    return {str(k): int(n) for k, n in conn.execute(select(label, func.count()).group_by(label)).all()}


def patient_coverages(conn: Connection, patient: str) -> list[dict[str, Any]]:
    """The mirror's Coverages whose beneficiary is ``patient``."""
    rows = conn.execute(select(RES.c.body).where(RES.c.patient == patient, RES.c.resource_type == "Coverage"))
    return [dict(r.body) for r in rows]
