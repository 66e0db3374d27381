"""Claim statements: versions, findings, overrides, and the read models the API and CLI use.

Every ``claim.status`` write goes through the lifecycle table (:mod:`app.domain.claim_status`) in
:func:`apply_transitions` (:func:`save_version` uses it; a new claim's first status is looked up)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db import pg_writes
from app.db.models import Claim, ClaimSubmission, ClaimVersion, FindingRow
from app.db.sql import iso
from app.domain.claim_status import ClaimEvent, ClaimStatus, cleared, transition, version_event
from app.domain.findings import Finding
from app.domain.tenancy import DEFAULT_EHR
from app.errors import FatalError

CLAIM = Claim.__table__  # type: ignore[attr-defined]
VERSION = ClaimVersion.__table__  # type: ignore[attr-defined]
FINDING = FindingRow.__table__  # type: ignore[attr-defined]
SUBMISSION = ClaimSubmission.__table__  # type: ignore[attr-defined]
# A submission the clearinghouse or payer did not reject: the payer has (or may have) the claim.
#: A submission neither the 999 nor the 277CA rejected: the payer has (or may have) the claim.
NOT_REJECTED = and_(
    or_(SUBMISSION.c.ack_999.is_(None), SUBMISSION.c.ack_999 != "rejected"),
    or_(SUBMISSION.c.ack_277ca.is_(None), SUBMISSION.c.ack_277ca != "rejected"),
)
_WITH_PAYER = select(SUBMISSION.c.id).where(SUBMISSION.c.claim_id == bindparam("claim_id"), NOT_REJECTED).limit(1)


@dataclass(frozen=True)
class NewVersion:
    claim_id: str
    encounter: str
    patient: str | None
    payer_id: str | None
    held: bool  # an open error finding
    resource: dict[str, Any]
    fingerprint: str
    mapping_version: str | None
    config_hash: str | None
    em: dict[str, Any] | None
    findings: list[Finding]
    filing_deadline: date | None
    source_job_id: int | None
    ehr: str = DEFAULT_EHR


_ID: Any = bindparam("claim_id")
_LATEST_FINGERPRINT = (
    select(VERSION.c.fingerprint).where(VERSION.c.claim_id == _ID).order_by(VERSION.c.version.desc()).limit(1)
)
_HEAD = select(CLAIM.c.current_version, CLAIM.c.status).where(CLAIM.c.id == _ID)
_STATUS = select(CLAIM.c.status).where(CLAIM.c.id == _ID)
_STATUSES = select(CLAIM.c.id, CLAIM.c.status).where(CLAIM.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_CLAIM = CLAIM.insert()
# SQLite: a claim the job takes to be new, inserted unless its row is there already (RETURNING its
# id only when inserted): no head read first (:func:`save_first_version`).
_INSERT_CLAIM_IF_ABSENT = sqlite_insert(CLAIM).on_conflict_do_nothing(index_elements=[CLAIM.c.id]).returning(CLAIM.c.id)
_INSERT_VERSION = VERSION.insert()
_INSERT_FINDING = FINDING.insert()
_FIRST_CLAIM_OF_ENCOUNTER = (
    select(func.min(CLAIM.c.created_at))
    .where(CLAIM.c.ehr == bindparam("ehr"), CLAIM.c.encounter == bindparam("encounter"))
    .scalar_subquery()
)
_PRIOR_CLAIMS = (
    select(VERSION.c.resource)
    .join(CLAIM, (CLAIM.c.id == VERSION.c.claim_id) & (CLAIM.c.current_version == VERSION.c.version))
    .where(
        CLAIM.c.ehr == bindparam("ehr"),
        CLAIM.c.patient == bindparam("patient"),
        CLAIM.c.encounter != bindparam("encounter"),
    )
    .where(or_(_FIRST_CLAIM_OF_ENCOUNTER.is_(None), CLAIM.c.created_at < _FIRST_CLAIM_OF_ENCOUNTER))
    .order_by(CLAIM.c.created_at, CLAIM.c.id)
)


def latest_fingerprint(conn: Connection, claim_id: str) -> str | None:
    return conn.execute(_LATEST_FINGERPRINT, {"claim_id": claim_id}).scalar_one_or_none()


@dataclass(frozen=True)
class Head:
    """The stored claim's current version and status (read with its row locked on PostgreSQL)."""

    current_version: int
    status: str


def locked_head(conn: Connection, claim_id: str) -> Head | None:
    """The claim's head, its row locked until the transaction ends (PostgreSQL); None: not stored.

    Read before :func:`latest_fingerprint`, the lock makes that read see the version a concurrent
    transaction has just committed for the same claim (so the same content is never stored twice).
    """
    row = conn.execute(_locked(conn, _HEAD), {"claim_id": claim_id}).first()
    return None if row is None else Head(int(row.current_version), str(row.status))


def save_version(conn: Connection, new: NewVersion, *, now: datetime) -> tuple[int, ClaimStatus]:
    """Insert the claim (first time) or bump its version; write the version and its findings.

    The status follows :func:`app.domain.claim_status.version_event`; returns (version, status).
    """
    return save_version_at(conn, new, locked_head(conn, new.claim_id), now=now)


def save_version_at(conn: Connection, new: NewVersion, head: Head | None, *, now: datetime) -> tuple[int, ClaimStatus]:
    """:func:`save_version` with the head the caller has just read with :func:`locked_head`."""
    previous = None if head is None else head.status
    event = version_event(held=new.held, previous=previous, with_payer=lambda: with_payer(conn, new.claim_id))
    values = {"payer_id": new.payer_id, "patient": new.patient, "filing_deadline": new.filing_deadline}
    if head is None and conn.dialect.name == "postgresql":
        status = transition(None, event)
        params = pg_writes.new_claim_params(new, status, now)
        pg_writes.execute_compiled(conn, pg_writes.NEW_CLAIM, params)  # claim, version 1, findings
        return 1, status
    if head is None:
        version, status = 1, transition(None, event)
        conn.execute(_INSERT_CLAIM, _claim_row(new, status, now))
    else:
        version = head.current_version + 1
        status = apply_transition(conn, new.claim_id, event, now=now, values={**values, "current_version": version})
    _insert_version(conn, new, version, now=now)
    return version, status


def _claim_row(new: NewVersion, status: ClaimStatus, now: datetime) -> dict[str, Any]:
    return {"id": new.claim_id, "ehr": new.ehr, "encounter": new.encounter, "current_version": 1, "status": status,
            "created_at": now, "updated_at": now, "payer_id": new.payer_id, "patient": new.patient,
            "filing_deadline": new.filing_deadline}  # fmt: skip


def save_first_version(conn: Connection, new: NewVersion, *, now: datetime) -> ClaimStatus | None:
    """SQLite: store ``new`` as version 1 of a claim the caller takes to be new (the encounter's
    stored claims do not list it), with its findings, without reading its head first: the claim's
    row is inserted unless it is there already (``ON CONFLICT DO NOTHING``). Returns the first
    status; None: the row was there (a claim the caller's read did not list), nothing was written,
    and the caller goes through :func:`locked_head` and :func:`save_version_at`. What it stores is
    what :func:`save_version_at` stores with no head."""
    status = first_status(new)
    if conn.execute(_INSERT_CLAIM_IF_ABSENT, _claim_row(new, status, now)).first() is None:
        return None
    _insert_version(conn, new, 1, now=now)
    return status


def _insert_version(conn: Connection, new: NewVersion, version: int, *, now: datetime) -> None:
    conn.execute(_INSERT_VERSION, {
        "claim_id": new.claim_id, "version": version, "fingerprint": new.fingerprint,
        "mapping_version": new.mapping_version, "config_hash": new.config_hash, "resource": new.resource,
        "em": new.em, "source_job_id": new.source_job_id, "created_at": now,
    })  # fmt: skip
    if new.findings:
        conn.execute(_INSERT_FINDING, [_finding_row(new.claim_id, version, f) for f in new.findings])


def first_status(new: NewVersion) -> ClaimStatus:
    """The status of a claim's first version (no previous status: no submission to ask about)."""
    return transition(None, version_event(held=new.held, previous=None, with_payer=lambda: False))


def save_new_if_absent(
    conn: Connection,
    new: NewVersion,
    outbox: list[dict[str, Any]],
    *,
    now: datetime,
    outcome: dict[str, Any] | None = None,
) -> ClaimStatus | None:
    """PostgreSQL: store ``new`` as version 1 of a claim not stored yet, with its findings and
    ``outbox`` rows (destination, kind, key, payload; written for version 1 with the returned
    status), in one statement (:data:`app.db.pg_writes.NEW_CLAIM_IF_ABSENT`). None: the claim is
    stored already (by another transaction, or a claim the caller's read did not list); nothing
    was written, and the caller goes through :func:`locked_head` and :func:`save_version_at`.
    ``outcome``: the encounter's outcome row (``outcomes_repo.outcome_values``), written first in
    the same statement either way."""
    status = first_status(new)
    params = pg_writes.new_claim_if_absent_params(new, status, outbox, now)
    if outcome is not None:
        params = pg_writes.with_outcome_params(params, outcome)
    stmt = pg_writes.NEW_CLAIM_IF_ABSENT if outcome is None else pg_writes.NEW_CLAIM_IF_ABSENT_WITH_OUTCOME
    return status if pg_writes.execute_compiled(conn, stmt, params).scalar_one() else None


def _finding_row(claim_id: str, version: int, finding: Finding) -> dict[str, Any]:
    return {"claim_id": claim_id, "claim_version": version, "overridden_by": None, "override_reason": None,
            "overridden_at": None, **finding.to_dict(), "hold": finding.hold}  # fmt: skip


def prior_claims_for_patient(
    conn: Connection, patient: str | None, *, exclude_encounter: str, ehr: str = DEFAULT_EHR
) -> list[dict[str, Any]]:
    """Current versions of the patient's claims (``Patient/x`` of the same EHR) billed before this encounter's claim.

    Claims of the encounter itself are its own earlier versions, not prior billing; claims first
    stored after it are not "already billed" when it is re-evaluated (a later duplicate must not
    turn the original into a duplicate).
    """
    if not patient:
        return []
    rows = conn.execute(_PRIOR_CLAIMS, {"ehr": ehr, "patient": patient, "encounter": exclude_encounter}).scalars()
    return [dict(r) for r in rows]


def with_payer(conn: Connection, claim_id: str) -> bool:
    """Whether a submission of the claim was not rejected: a change must then go as a replacement."""
    return conn.execute(_WITH_PAYER, {"claim_id": claim_id}).first() is not None


def claim_status(conn: Connection, claim_id: str) -> ClaimStatus | None:
    status = conn.execute(_STATUS, {"claim_id": claim_id}).scalar_one_or_none()
    return ClaimStatus(status) if status else None


class UnknownClaim(FatalError, LookupError):
    """A transition for a claim that is not stored."""


def _locked(conn: Connection, stmt: Select[Any]) -> Select[Any]:
    """``stmt`` locking the claim row on PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` serialises writers)."""
    return stmt.with_for_update(of=CLAIM) if conn.dialect.name == "postgresql" else stmt


def apply_transition(
    conn: Connection, claim_id: str, event: ClaimEvent, *, now: datetime, values: dict[str, Any] | None = None
) -> ClaimStatus:
    """One claim through :func:`apply_transitions`; its status afterwards."""
    return apply_transitions(conn, event, {claim_id: values or {}}, now=now)[claim_id]


def apply_transitions(
    conn: Connection, event: ClaimEvent, changes: Mapping[str, Mapping[str, Any]], *, now: datetime
) -> dict[str, ClaimStatus]:
    """Move stored claims as the lifecycle table says for ``event``; each one's status afterwards.

    ``changes``: claim id → other columns written with the status and ``updated_at`` (may be empty).
    Reads the statuses (rows locked on PostgreSQL), looks every pair up, then writes: an illegal pair
    (:class:`~app.domain.claim_status.IllegalTransition`) or an unknown claim raises with nothing
    written. A claim the event leaves as it is (a late answer) is written only for its ``changes``.
    """
    current = {r.id: r.status for r in conn.execute(_locked(conn, _STATUSES), {"ids": sorted(changes)})}
    if missing := sorted(set(changes) - set(current)):
        raise UnknownClaim(f"not stored: claim {', '.join(missing)} (event {event})")
    after = {claim_id: transition(current[claim_id], event, claim_id=claim_id) for claim_id in changes}
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # one executemany per set of columns
    for claim_id, values in changes.items():
        if values or after[claim_id] != current[claim_id]:
            row = {"status": after[claim_id], "updated_at": now, **values}
            groups.setdefault(tuple(row), []).append({"k": claim_id, **{f"v_{c}": v for c, v in row.items()}})
    for columns, rows in groups.items():
        stmt = update(CLAIM).where(CLAIM.c.id == bindparam("k")).values({c: bindparam(f"v_{c}") for c in columns})
        conn.execute(stmt, rows)
    return after


def _claim_view(row: Any, findings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "ehr": row.ehr,
        "encounter": row.encounter,
        "patient": row.patient,
        "payer": row.payer_id,
        "status": row.status,
        "version": row.current_version,
        "filing_deadline": row.filing_deadline.isoformat() if row.filing_deadline else None,
        "mapping_version": row.mapping_version,
        "config_hash": row.config_hash,
        "em": row.em,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "findings": findings,
        "claim": dict(row.resource),
    }


def _views_stmt() -> Any:
    return select(CLAIM, VERSION.c.resource, VERSION.c.mapping_version, VERSION.c.config_hash, VERSION.c.em).join(
        VERSION, (VERSION.c.claim_id == CLAIM.c.id) & (VERSION.c.version == CLAIM.c.current_version)
    )


def list_claims(
    conn: Connection, *, status: str | None = None, payer: str | None = None, limit: int = 1000, offset: int = 0
) -> list[dict[str, Any]]:
    stmt = _views_stmt()
    if status:
        stmt = stmt.where(CLAIM.c.status == status)
    if payer:
        stmt = stmt.where(CLAIM.c.payer_id == payer)
    rows = conn.execute(stmt.order_by(CLAIM.c.created_at, CLAIM.c.id).limit(limit).offset(offset)).all()
    findings = current_findings(conn, [r.id for r in rows])
    return [_claim_view(r, findings.get(r.id, [])) for r in rows]


def get_claim(conn: Connection, claim_id: str) -> dict[str, Any] | None:
    row = conn.execute(_views_stmt().where(CLAIM.c.id == claim_id)).first()
    if row is None:
        return None
    return _claim_view(row, current_findings(conn, [claim_id]).get(claim_id, []))


def current_findings(conn: Connection, claim_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    if not claim_ids:
        return {}
    stmt = (
        select(FINDING)
        .join(CLAIM, (CLAIM.c.id == FINDING.c.claim_id) & (CLAIM.c.current_version == FINDING.c.claim_version))
        .where(FINDING.c.claim_id.in_(claim_ids))
        .order_by(FINDING.c.id)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute(stmt):
        out.setdefault(r.claim_id, []).append(finding_view(r))
    return out


def finding_view(r: Any) -> dict[str, Any]:
    view = {k: getattr(r, k) for k in ("id", "rule", "category", "severity", "message", "location", "source", "fix")}
    if r.hold:
        view["hold"] = True  # held the claim until acknowledged (an override)
    if r.overridden_by:
        view["override"] = {"by": r.overridden_by, "reason": r.override_reason, "at": iso(r.overridden_at)}
    return view


def finding_counts(conn: Connection) -> dict[tuple[str, str], int]:
    stmt = (
        select(FINDING.c.category, FINDING.c.severity, func.count())
        .join(CLAIM, (CLAIM.c.id == FINDING.c.claim_id) & (CLAIM.c.current_version == FINDING.c.claim_version))
        .group_by(FINDING.c.category, FINDING.c.severity)
    )
    return {(c, s): int(n) for c, s, n in conn.execute(stmt).all()}


def list_findings(
    conn: Connection, *, category: str | None, payer: str | None, severity: str | None, limit: int = 1000
) -> list[dict[str, Any]]:
    stmt = select(FINDING, CLAIM.c.payer_id, CLAIM.c.encounter).join(
        CLAIM, (CLAIM.c.id == FINDING.c.claim_id) & (CLAIM.c.current_version == FINDING.c.claim_version)
    )
    if category:
        stmt = stmt.where(FINDING.c.category == category)
    if payer:
        stmt = stmt.where(CLAIM.c.payer_id == payer)
    if severity:
        stmt = stmt.where(FINDING.c.severity == severity)
    rows = conn.execute(stmt.order_by(FINDING.c.id).limit(limit)).all()
    return [{**finding_view(r), "claim": r.claim_id, "payer": r.payer_id, "encounter": r.encounter} for r in rows]


def override_finding(
    conn: Connection, *, claim_id: str, finding_id: int, by: str, reason: str, now: datetime
) -> dict[str, Any] | None:
    """Record an override (an acknowledgement, for a held warning) on a current-version finding; re-derive
    the claim's held/ready status: it is released once no error or held finding is left open."""
    row = conn.execute(
        select(FINDING)
        .join(CLAIM, (CLAIM.c.id == FINDING.c.claim_id) & (CLAIM.c.current_version == FINDING.c.claim_version))
        .where(FINDING.c.id == finding_id, FINDING.c.claim_id == claim_id)
    ).first()
    if row is None:
        return None
    overridden = {"overridden_by": by, "override_reason": reason, "overridden_at": now}
    conn.execute(update(FINDING).where(FINDING.c.id == finding_id).values(overridden))
    open_errors = conn.execute(
        select(func.count())
        .select_from(FINDING)
        .join(CLAIM, (CLAIM.c.id == FINDING.c.claim_id) & (CLAIM.c.current_version == FINDING.c.claim_version))
        .where(
            FINDING.c.claim_id == claim_id,
            or_(FINDING.c.severity == "error", FINDING.c.hold.is_(True)),
            FINDING.c.overridden_by.is_(None),
        )
    ).scalar_one()
    if open_errors == 0 and claim_status(conn, claim_id) == ClaimStatus.HELD:
        apply_transition(conn, claim_id, cleared(with_payer=with_payer(conn, claim_id)), now=now)
    return get_claim(conn, claim_id)


def add_findings(conn: Connection, *, claim_id: str, version: int, findings: list[Finding]) -> None:
    """Findings raised after the claim version was stored (e.g. the X12 builder's refusal)."""
    if findings:
        conn.execute(_INSERT_FINDING, [_finding_row(claim_id, version, f) for f in findings])
