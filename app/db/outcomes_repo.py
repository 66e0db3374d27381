"""Encounter outcome statements: one row per evaluated encounter, replaced when it is re-evaluated.

Written by the worker in the job's transaction, beside the claim version (:func:`save_outcome`);
read by ``GET /api/encounters`` and the demo summary. The claim's current status is joined in from
``claim`` (an outcome names its claim; the claim's own life, submitted, paid, lives there).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db.models import Claim, EncounterOutcomeRow
from app.db.sql import iso
from app.domain.outcomes import EncounterOutcome
from app.domain.tenancy import DEFAULT_EHR

OUTCOME = EncounterOutcomeRow.__table__  # type: ignore[attr-defined]
CLAIM = Claim.__table__  # type: ignore[attr-defined]

_COLUMNS = ("patient", "status", "outcome", "claim_id", "held", "findings", "fingerprint", "source_job_id")
_VIEW = select(OUTCOME, CLAIM.c.status.label("claim_status")).outerjoin(CLAIM, CLAIM.c.id == OUTCOME.c.claim_id)


def fingerprint(outcome: EncounterOutcome) -> str:
    return hashlib.sha256(orjson.dumps(outcome.to_dict(), option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


@cache
def _upsert(dialect: str) -> Any:
    """Insert the outcome, or replace the stored one unless its fingerprint is the same; RETURNING a row
    only when something was written (one statement: no read before the write)."""
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = factory(OUTCOME)
    return stmt.on_conflict_do_update(
        index_elements=[OUTCOME.c.ehr, OUTCOME.c.encounter],
        set_={c: stmt.excluded[c] for c in (*_COLUMNS, "updated_at")},
        where=OUTCOME.c.fingerprint != stmt.excluded.fingerprint,
    ).returning(OUTCOME.c.encounter)


def save_outcome(
    conn: Connection, outcome: EncounterOutcome, *, job_id: int | None, now: datetime, ehr: str = DEFAULT_EHR
) -> bool:
    """Insert or replace the encounter's outcome (of ``ehr``); False when it is unchanged (nothing written)."""
    return save_values(conn, outcome_values(outcome, job_id=job_id, now=now, ehr=ehr))


def save_values(conn: Connection, values: dict[str, Any]) -> bool:
    """:func:`save_outcome` of the row :func:`outcome_values` built."""
    return conn.execute(_upsert(conn.dialect.name), values).first() is not None


def outcome_values(
    outcome: EncounterOutcome, *, job_id: int | None, now: datetime, ehr: str = DEFAULT_EHR
) -> dict[str, Any]:
    """The row of ``outcome`` (written by :func:`save_values`, or with a new claim on PostgreSQL:
    :data:`app.db.pg_writes.NEW_CLAIM_IF_ABSENT_WITH_OUTCOME`)."""
    return {
        "ehr": ehr,
        "encounter": outcome.encounter,
        "patient": outcome.patient,
        "status": outcome.status,
        "outcome": outcome.outcome.value,
        "claim_id": outcome.claim_id,
        "held": outcome.held,
        "findings": [f.to_dict() for f in outcome.findings],
        "fingerprint": fingerprint(outcome),
        "source_job_id": job_id,
        "created_at": now,
        "updated_at": now,
    }


def _view(row: Any) -> dict[str, Any]:
    return {
        "ehr": row.ehr,
        "encounter": row.encounter,
        "patient": row.patient,
        "status": row.status,
        "outcome": row.outcome,
        "claim": row.claim_id,
        "claim_status": row.claim_status,
        "held": row.claim_status == "held" if row.claim_status else row.held,
        "findings": list(row.findings),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def list_outcomes(
    conn: Connection,
    *,
    outcome: str | None = None,
    patient: str | None = None,
    billed: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Outcomes in encounter order; ``billed`` True/False keeps those with/without a claim."""
    stmt = _VIEW
    if outcome:
        stmt = stmt.where(OUTCOME.c.outcome == outcome)
    if patient:
        stmt = stmt.where(OUTCOME.c.patient == patient)
    if billed is not None:
        stmt = stmt.where(OUTCOME.c.claim_id.is_not(None) if billed else OUTCOME.c.claim_id.is_(None))
    rows = conn.execute(stmt.order_by(OUTCOME.c.encounter, OUTCOME.c.ehr).limit(limit).offset(offset)).all()
    return [_view(r) for r in rows]


def get_outcome(conn: Connection, encounter: str, *, ehr: str) -> dict[str, Any] | None:
    """The outcome of ``encounter`` in ``ehr`` (None: not evaluated there)."""
    found = outcomes_of(conn, encounter, ehr=ehr)
    return found[0] if found else None


def outcomes_of(conn: Connection, encounter: str, *, ehr: str | None = None) -> list[dict[str, Any]]:
    """The outcomes of ``encounter`` in ``ehr``, or (``ehr`` None) in every EHR that holds that id, by EHR name."""
    stmt = _VIEW.where(OUTCOME.c.encounter == encounter)
    if ehr is not None:
        stmt = stmt.where(OUTCOME.c.ehr == ehr)
    return [_view(r) for r in conn.execute(stmt.order_by(OUTCOME.c.ehr)).all()]


def outcome_counts(conn: Connection) -> dict[str, int]:
    """Encounters by outcome, and how many of them have no claim (key ``without-claim``)."""
    rows = conn.execute(select(OUTCOME.c.outcome, func.count()).group_by(OUTCOME.c.outcome)).all()
    counts = {str(o): int(n) for o, n in rows}
    unbilled = conn.execute(select(func.count()).select_from(OUTCOME).where(OUTCOME.c.claim_id.is_(None)))
    return {**counts, "without-claim": int(unbilled.scalar_one())}
