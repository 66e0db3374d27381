"""Eligibility statements: request verifications (idempotent), claim the due ones, store results, read them.

A verification is one ``eligibility_check`` row, unique per (ehr, coverage, service_date, trigger):
requesting it twice changes nothing. Identity is per EHR (:mod:`app.domain.tenancy`): two EHRs'
``Coverage/1`` are different coverages, so every query here is scoped by ``ehr``. The duty
(:mod:`app.eligibility.duty`) claims due rows with a lease in a short transaction, calls the payer
with no transaction open, then stores the result in another one. Claiming uses ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL so several workers never run the same check; a check whose lease ran out (the
worker died mid-call) is claimable again.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update

from app.db.models import EligibilityCheck, Inbox, Job, Resource
from app.db.sql import insert_ignore, iso
from app.domain.eligibility import CheckKey, EligibilityResult
from app.domain.tenancy import DEFAULT_EHR

CHECK = EligibilityCheck.__table__  # type: ignore[attr-defined]
RES = Resource.__table__  # type: ignore[attr-defined]
JOB = Job.__table__  # type: ignore[attr-defined]
INBOX = Inbox.__table__  # type: ignore[attr-defined]
#: A verification that counts as one for the stale rule (an answer from the payer).
ANSWERED = ("active", "inactive", "error")
CHECK_KEY = ("ehr", "coverage", "service_date", "trigger")


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
    ehr: str = DEFAULT_EHR
    due_at: datetime | None = None


def request_checks(conn: Connection, keys: Iterable[CheckKey], *, now: datetime) -> list[int]:
    """Insert the verifications not already known; returns the ids of the new ones (a key the planner
    found stored, ``known``, costs no statement)."""
    rows = [
        {
            "ehr": k.ehr,
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
        if not k.known
    ]
    return insert_ignore(conn, CHECK, rows, list(CHECK_KEY), "id")


def request_leased(conn: Connection, key: CheckKey, *, now: datetime, lease: float) -> int | None:
    """Insert ``key`` already leased to the caller (``running``: no other worker claims it while the caller
    asks the payer); None when it is known already (requested by its job or another worker)."""
    row = {
        "ehr": key.ehr,
        "coverage": key.coverage,
        "service_date": key.service_date,
        "trigger": key.trigger,
        "patient": key.patient,
        "payer_id": key.payer_id,
        "encounter": key.encounter,
        "appointment": key.appointment,
        "status": "running",
        "due_at": key.due_at,
        "locked_until": now + timedelta(seconds=lease),
        "attempts": 1,
        "created_at": now,
        "updated_at": now,
    }
    got = insert_ignore(conn, CHECK, [row], list(CHECK_KEY), "id")
    return int(got[0]) if got else None


def waiting_notifications(
    conn: Connection, *, after: int | None, limit: int, also: Collection[int] = ()
) -> list[tuple[int, str]]:
    """(inbox id, ehr) of notifications whose work waits (not expanded yet, or with a pending job), after
    inbox row ``after`` (None: from the first such row), and of the rows ``also`` (ids at or below ``after``
    not seen yet: on PostgreSQL a row can commit after a higher id was read), in order: their checks can
    go ahead of their jobs."""
    if after is None:
        firsts = [conn.execute(_FIRST_PENDING_INBOX).scalar(), conn.execute(_FIRST_PENDING_JOB).scalar()]
        after = min((int(f) for f in firsts if f is not None), default=1) - 1
    if also:
        rows = conn.execute(_WAITING_ALSO, {"after": after, "limit": limit, "also": sorted(also)})
    else:
        rows = conn.execute(_WAITING, {"after": after, "limit": limit})
    return [(int(r.id), str(r.ehr)) for r in rows]


_FIRST_PENDING_INBOX = select(func.min(INBOX.c.id)).where(INBOX.c.status == "pending")
_FIRST_PENDING_JOB = select(func.min(JOB.c.inbox_id)).where(JOB.c.status == "pending")
_IS_WAITING = or_(
    INBOX.c.status == "pending",
    select(JOB.c.id).where(JOB.c.inbox_id == INBOX.c.id, JOB.c.status == "pending").exists(),
)
_WAITING = (
    select(INBOX.c.id, INBOX.c.ehr)
    .where(INBOX.c.id > bindparam("after"))
    .where(_IS_WAITING)
    .order_by(INBOX.c.id)
    .limit(bindparam("limit"))
)
_WAITING_ALSO = (
    select(INBOX.c.id, INBOX.c.ehr)
    .where(or_(INBOX.c.id > bindparam("after"), INBOX.c.id.in_(bindparam("also", expanding=True))))
    .where(_IS_WAITING)
    .order_by(INBOX.c.id)
    .limit(bindparam("limit"))
)


def request_again(conn: Connection, key: CheckKey, *, now: datetime) -> tuple[int, bool]:
    """A verification due now for ``key`` (a person asked again): inserted, or a finished one of the same
    (ehr, coverage, service_date, trigger) made pending again (its last answer kept until the new one lands).
    Returns (id, queued); ``queued`` is False when one is already pending or running."""
    if new := request_checks(conn, [key], now=now):
        return new[0], True
    row = conn.execute(
        select(CHECK.c.id, CHECK.c.status).where(
            CHECK.c.ehr == key.ehr,
            CHECK.c.coverage == key.coverage,
            CHECK.c.service_date == key.service_date,
            CHECK.c.trigger == key.trigger,
        )
    ).one()
    if row.status in ("pending", "running"):
        return int(row.id), False
    conn.execute(
        update(CHECK)
        .where(CHECK.c.id == row.id)
        .values(status="pending", due_at=now, locked_until=None, attempts=0, encounter=key.encounter, updated_at=now)
    )
    return int(row.id), True


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
            r.ehr,
        )
        for r in rows
    ]


def finish(conn: Connection, check_id: int, result: EligibilityResult, *, now: datetime) -> None:
    finish_all(conn, [(check_id, result)], now=now)


_RESULT_COLUMNS = ("result_status", "result", "checked_at", "latency_seconds", "source", "updated_at")
_FINISH = (
    update(CHECK)
    .where(CHECK.c.id == bindparam("cid"))
    .values(
        status="done",
        locked_until=None,
        reevaluated_at=None,
        **{c: bindparam(c, type_=CHECK.c[c].type) for c in _RESULT_COLUMNS},
    )
)


def finish_all(conn: Connection, results: list[tuple[int, EligibilityResult]], *, now: datetime) -> None:
    """Store each check's result (one statement, executed for the lot)."""
    if results:
        conn.execute(_FINISH, [_finished(check_id, result, now) for check_id, result in results])


def _finished(check_id: int, result: EligibilityResult, now: datetime) -> dict[str, Any]:
    return {
        "cid": check_id,
        "result_status": result.status,
        "result": result.to_dict(),
        "checked_at": datetime.fromisoformat(result.checked_at),
        "latency_seconds": result.latency_seconds,
        "source": result.source,
        "updated_at": now,
    }


def pending_reevaluation(conn: Connection, *, limit: int) -> list[tuple[int, str, str | None, str]]:
    """(id, coverage, encounter, ehr) of stored results (answers, or the interim ``unverified`` of a
    check that outlived its payer's ``claim_wait_seconds``) whose claims were not re-evaluated yet, oldest first."""
    rows = conn.execute(
        select(CHECK.c.id, CHECK.c.coverage, CHECK.c.encounter, CHECK.c.ehr)
        .where(CHECK.c.result_status.is_not(None), CHECK.c.reevaluated_at.is_(None))
        .order_by(CHECK.c.checked_at, CHECK.c.id)
        .limit(limit)
    ).all()
    return [(r.id, r.coverage, r.encounter, r.ehr) for r in rows]


def overdue(conn: Connection, *, due_before: datetime, limit: int = 500) -> list[DueCheck]:
    """Checks due before ``due_before`` still without any result (pending, running at a slow payer, or
    sent in a batch 270 whose 271 has not come back)."""
    rows = conn.execute(
        select(CHECK)
        .where(CHECK.c.status.in_(("pending", "running", "batched")), CHECK.c.result_status.is_(None))
        .where(CHECK.c.due_at < due_before)
        .order_by(CHECK.c.due_at, CHECK.c.id)
        .limit(limit)
    ).all()
    return [DueCheck(r.id, r.coverage, r.service_date, r.trigger, r.patient, r.payer_id, r.encounter,
                     r.appointment, r.attempts, r.ehr, r.due_at) for r in rows]  # fmt: skip


def mark_unverified(conn: Connection, check_id: int, result: EligibilityResult, *, now: datetime) -> None:
    """An interim ``unverified`` result for a check whose answer is overdue; the check itself goes on
    (its call, or its next dispatch), and :func:`finish` replaces this with the real answer."""
    conn.execute(
        update(CHECK)
        .where(CHECK.c.id == check_id, CHECK.c.result_status.is_(None))
        .values(
            result_status=result.status,
            result=result.to_dict(),
            checked_at=now,
            source=result.source,
            reevaluated_at=None,
            updated_at=now,
        )
    )


def awaiting_answer(
    conn: Connection, *, ehr: str, payer_id: str, encounter: str, coverage: str | None, service_date: date | None,
    now: datetime, since: datetime,
) -> bool:  # fmt: skip
    """True while a verification of this visit with ``payer_id`` (its encounter, or its coverage on its
    date of service) that fell due between ``since`` and ``now`` has no result applied to the claims yet."""
    visit = CHECK.c.encounter == encounter
    if coverage and service_date:
        visit = or_(visit, (CHECK.c.coverage == coverage) & (CHECK.c.service_date == service_date))
    found = conn.execute(
        select(CHECK.c.id)
        .where(CHECK.c.ehr == ehr, CHECK.c.payer_id == payer_id, visit)
        .where(CHECK.c.status != "skipped", CHECK.c.reevaluated_at.is_(None))
        .where(CHECK.c.due_at <= now, CHECK.c.due_at >= since)
        .limit(1)
    ).first()
    return found is not None


def mark_batched(conn: Connection, check_ids: list[int], *, control: int, now: datetime) -> None:
    """Sent in the batch 270 ``control`` (its ISA13): answered when its 271 is read, never claimed again."""
    if check_ids:
        conn.execute(
            update(CHECK)
            .where(CHECK.c.id.in_(check_ids))
            .values(status="batched", locked_until=None, result={"batch": control}, updated_at=now)
        )


def batched(conn: Connection, check_id: int) -> DueCheck | None:
    """The check ``check_id`` if it is waiting for its batch 271."""
    r = conn.execute(select(CHECK).where(CHECK.c.id == check_id, CHECK.c.status == "batched")).first()
    if r is None:
        return None
    return DueCheck(r.id, r.coverage, r.service_date, r.trigger, r.patient, r.payer_id, r.encounter,
                    r.appointment, r.attempts, r.ehr, r.due_at)  # fmt: skip


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
                CHECK.c.ehr == key.ehr,
                CHECK.c.coverage == key.coverage,
                CHECK.c.service_date == key.service_date,
                CHECK.c.trigger == key.trigger,
            )
        ).scalar_one()
    )
    finish(conn, check_id, result, now=now)
    return check_id


# By (ehr, patient) only, the answer tested on the rows: with ``status = 'done'`` in the WHERE clause SQLite
# chose the (status, ...) index and walked every answered check of every patient, per encounter.
_PATIENT_CHECKS = (
    select(*(CHECK.c[c] for c in ("id", "result_status", "result", "encounter", "reevaluated_at", "checked_at")))
    .where(CHECK.c.ehr == bindparam("ehr"), CHECK.c.patient == bindparam("patient"))
    .order_by(CHECK.c.checked_at.desc(), CHECK.c.id.desc())
)


def results_for_patient(
    conn: Connection, patient: str | None, *, ehr: str = DEFAULT_EHR, limit: int = 50
) -> tuple[dict[str, Any], ...]:
    """Stored results for the patient's coverages in ``ehr``, oldest first (the rules read the latest per coverage).

    A check asked again (:func:`request_again`) keeps counting with its last answer while it waits."""
    if not patient:
        return ()
    rows = conn.execute(_PATIENT_CHECKS, {"ehr": ehr, "patient": patient})
    answered = (r.result for r in rows if r.result_status is not None)
    return tuple(dict(result) for result in reversed(list(itertools.islice(answered, limit))))


_APPLIED = (
    update(CHECK)
    .where(CHECK.c.id == bindparam("cid"), CHECK.c.checked_at == bindparam("seen"), CHECK.c.reevaluated_at.is_(None))
    .values(reevaluated_at=bindparam("now"))
)


def results_applied(
    conn: Connection, patient: str | None, *, encounter: str, now: datetime, ehr: str = DEFAULT_EHR, limit: int = 50
) -> tuple[dict[str, Any], ...]:
    """:func:`results_for_patient`, for the claim of ``encounter`` being evaluated in this transaction: the
    results of this encounter's checks not applied yet are marked re-evaluated (this evaluation applies
    them; the duty has nothing left to do for them). One UPDATE only when there is such a result; a
    result stored again meanwhile (another ``checked_at``) is not marked and is re-evaluated as usual."""
    if not patient:
        return ()
    found = conn.execute(_PATIENT_CHECKS, {"ehr": ehr, "patient": patient})
    rows = list(itertools.islice((r for r in found if r.result_status is not None), limit))
    fresh = [{"cid": r.id, "seen": r.checked_at, "now": now} for r in rows if r.encounter == encounter
             and r.reevaluated_at is None]  # fmt: skip
    if fresh:
        conn.execute(_APPLIED, fresh)
    return tuple(dict(r.result) for r in reversed(rows))


def has_fresh_answer(conn: Connection, coverage: str, *, since: datetime, ehr: str = DEFAULT_EHR) -> bool:
    """True when the payer answered about ``coverage`` (of ``ehr``) at or after ``since``."""
    found = conn.execute(_FRESH, {"ehr": ehr, "coverage": coverage, "since": since}).first()
    return found is not None


def is_requested(conn: Connection, coverage: str, service_date: date, trigger: str, *, ehr: str = DEFAULT_EHR) -> bool:
    """True when the verification (ehr, coverage, service_date, trigger) is known (in any state)."""
    params = {"ehr": ehr, "coverage": coverage, "service_date": service_date, "trigger": trigger}
    return conn.execute(_REQUESTED, params).first() is not None


def answer_state(
    conn: Connection, coverage: str, service_date: date, trigger: str, *, since: datetime, ehr: str = DEFAULT_EHR
) -> tuple[bool, bool]:
    """(:func:`is_requested`, :func:`has_fresh_answer`) in one statement (a finished encounter's planning)."""
    params = {"ehr": ehr, "coverage": coverage, "service_date": service_date, "trigger": trigger, "since": since}
    requested, fresh = conn.execute(_STATE, params).one()
    return bool(requested), bool(fresh)


# Built once (the job path runs these per encounter): no statement construction per call.
_REQUESTED = select(CHECK.c.id).where(*(CHECK.c[c] == bindparam(c) for c in CHECK_KEY))
_FRESH = (
    select(CHECK.c.id)
    .where(
        CHECK.c.ehr == bindparam("ehr"),
        CHECK.c.coverage == bindparam("coverage"),
        CHECK.c.result_status.in_(ANSWERED),
        CHECK.c.checked_at >= bindparam("since"),
    )
    .limit(1)
)
_STATE = select(_REQUESTED.exists(), _FRESH.limit(None).exists())
_COVERAGES = select(RES.c.body).where(
    RES.c.ehr == bindparam("ehr"), RES.c.patient == bindparam("patient"), RES.c.resource_type == "Coverage"
)


def list_checks(
    conn: Connection,
    *,
    patient: str | None = None,
    coverage: str | None = None,
    ehr: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Checks newest first; ``ehr`` None: of every EHR (each row says whose it is)."""
    stmt = select(CHECK).order_by(CHECK.c.updated_at.desc(), CHECK.c.id.desc()).limit(limit)
    if ehr is not None:
        stmt = stmt.where(CHECK.c.ehr == ehr)
    if patient:
        stmt = stmt.where(CHECK.c.patient == patient)
    if coverage:
        stmt = stmt.where(CHECK.c.coverage == coverage)
    return [_view(r) for r in conn.execute(stmt).all()]


def _view(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "ehr": r.ehr,
        "coverage": r.coverage,
        "patient": r.patient,
        "payer": r.payer_id,
        "service_date": r.service_date.isoformat(),
        "trigger": r.trigger,
        "state": r.status,
        "status": r.result_status,
        "checked_at": iso(r.checked_at),
        "due_at": iso(r.due_at),
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


def patient_coverages(conn: Connection, patient: str, *, ehr: str = DEFAULT_EHR) -> list[dict[str, Any]]:
    """The mirror's Coverages of ``ehr`` whose beneficiary is ``patient``."""
    return [dict(r.body) for r in conn.execute(_COVERAGES, {"ehr": ehr, "patient": patient})]
