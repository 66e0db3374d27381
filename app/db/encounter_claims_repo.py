"""The stored claims of an encounter: whether the payer has one, and those its re-evaluation no
longer yields: read, withdrawn, voided.

Only claims the worker mapped (``claim_version.mapping_version`` set) belong to the encounter's
evaluation; a secondary payer's claim (:mod:`app.worker.secondary_claims`) has none and is left to
its primary. Withdrawal and the void both go through the lifecycle table
(:mod:`app.domain.claim_status`): ``withdrawn`` for a claim the payer never had, a new ``cancelled``
version (a void, 837P frequency 8) for one it has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, bindparam, exists, or_, select

from app.db import claims_repo
from app.db.models import Claim, ClaimSubmission, ClaimVersion, FindingRow
from app.domain.claim_status import ClaimEvent, ClaimStatus
from app.domain.findings import Finding

CLAIM = Claim.__table__  # type: ignore[attr-defined]
VERSION = ClaimVersion.__table__  # type: ignore[attr-defined]
SUBMISSION = ClaimSubmission.__table__  # type: ignore[attr-defined]
FINDING = FindingRow.__table__  # type: ignore[attr-defined]
ALREADY_BILLED = "charge-capture.charge-already-billed"
_BILLED_ELSEWHERE = (
    select(FINDING.c.source)
    .join(CLAIM, CLAIM.c.id == FINDING.c.claim_id)
    .where(
        CLAIM.c.ehr == bindparam("ehr"),
        CLAIM.c.encounter == bindparam("encounter"),
        FINDING.c.rule == ALREADY_BILLED,
        FINDING.c.source.is_not(None),
    )
    .distinct()
)
_WITH_PAYER_OF_CLAIM = exists().where(SUBMISSION.c.claim_id == CLAIM.c.id, claims_repo.NOT_REJECTED).label("with_payer")
_MAPPED = (
    select(
        CLAIM.c.id,
        CLAIM.c.status,
        CLAIM.c.current_version,
        CLAIM.c.patient,
        CLAIM.c.payer_id,
        CLAIM.c.filing_deadline,
        VERSION.c.resource,
        VERSION.c.mapping_version,
        VERSION.c.config_hash,
        VERSION.c.em,
        _WITH_PAYER_OF_CLAIM,
    )
    .join(VERSION, (VERSION.c.claim_id == CLAIM.c.id) & (VERSION.c.version == CLAIM.c.current_version))
    .where(CLAIM.c.ehr == bindparam("ehr"), CLAIM.c.encounter == bindparam("encounter"))
    .order_by(CLAIM.c.id)
)


@dataclass(frozen=True)
class StoredClaim:
    claim_id: str
    status: ClaimStatus
    version: int
    patient: str | None
    payer_id: str | None
    filing_deadline: date | None
    resource: dict[str, Any]
    mapping_version: str | None
    config_hash: str | None
    em: dict[str, Any] | None
    with_payer: bool = False  # a submission of it was not rejected

    @property
    def is_void(self) -> bool:
        return self.resource.get("status") == "cancelled"


@dataclass(frozen=True)
class EncounterClaims:
    """The claims stored for one encounter (current versions), read once per evaluation (one statement)
    for both questions a job asks of them: does the payer have one (the next version replaces it), and
    which mapped ones does the encounter no longer yield (:mod:`app.worker.retire`)."""

    claims: tuple[StoredClaim, ...]

    @property
    def with_payer(self) -> bool:
        return any(c.with_payer for c in self.claims)

    def mapped(self, *, excluding: Collection[str] = ()) -> list[StoredClaim]:
        return [c for c in self.claims if c.mapping_version is not None and c.claim_id not in excluding]


def claims_of(conn: Connection, encounter: str, *, ehr: str) -> EncounterClaims:
    rows = conn.execute(_MAPPED, {"ehr": ehr, "encounter": encounter}).all()
    return EncounterClaims(tuple(_stored(r) for r in rows))


# The encounter's claims and the patient's (``ehr`` inside each branch: two index searches, SQLite's
# multi-index OR, a PostgreSQL BitmapOr), in the order prior billing is listed.
_CLAIMS_AND_PRIOR = (
    select(*_MAPPED.selected_columns, CLAIM.c.encounter, CLAIM.c.created_at)
    .join_from(CLAIM, VERSION, (VERSION.c.claim_id == CLAIM.c.id) & (VERSION.c.version == CLAIM.c.current_version))
    .where(
        or_(
            and_(CLAIM.c.ehr == bindparam("ehr"), CLAIM.c.encounter == bindparam("encounter")),
            and_(CLAIM.c.ehr == bindparam("ehr"), CLAIM.c.patient == bindparam("patient")),
        )
    )
    .order_by(CLAIM.c.created_at, CLAIM.c.id)
)


def claims_and_prior(
    conn: Connection, encounter: str, patient: str | None, *, ehr: str
) -> tuple[EncounterClaims, list[dict[str, Any]]]:
    """:func:`claims_of` and :func:`app.db.claims_repo.prior_claims_for_patient` (``patient``'s claims
    of other encounters first stored before this encounter's first claim) in one statement."""
    if not patient:
        return claims_of(conn, encounter, ehr=ehr), []
    rows = conn.execute(_CLAIMS_AND_PRIOR, {"ehr": ehr, "encounter": encounter, "patient": patient}).all()
    own = sorted((r for r in rows if r.encounter == encounter), key=lambda r: r.id)
    first = min((r.created_at for r in own), default=None)
    prior = [
        dict(r.resource)
        for r in rows
        if r.encounter != encounter and r.patient == patient and (first is None or r.created_at < first)
    ]
    return EncounterClaims(tuple(_stored(r) for r in own)), prior


def _stored(r: Any) -> StoredClaim:
    return StoredClaim(r.id, ClaimStatus(r.status), r.current_version, r.patient, r.payer_id, r.filing_deadline,
                       dict(r.resource), r.mapping_version, r.config_hash, r.em, bool(r.with_payer))  # fmt: skip


def billed_elsewhere(conn: Connection, encounter: str, *, ehr: str) -> frozenset[str]:
    """ChargeItems a version of the encounter's claims left off as already billed (any version)."""
    return frozenset(str(s) for s in conn.execute(_BILLED_ELSEWHERE, {"ehr": ehr, "encounter": encounter}).scalars())


def withdraw(conn: Connection, claim: StoredClaim, finding: Finding, *, now: datetime) -> ClaimStatus:
    """``withdrawn``, with ``finding`` (why) on its current version; for a claim the payer never had."""
    claims_repo.add_findings(conn, claim_id=claim.claim_id, version=claim.version, findings=[finding])
    return claims_repo.apply_transition(conn, claim.claim_id, ClaimEvent.WITHDRAWN, now=now)


def void(
    conn: Connection, claim: StoredClaim, finding: Finding, *, encounter: str, ehr: str, job_id: int | None,
    now: datetime,
) -> tuple[int, ClaimStatus]:  # fmt: skip
    """A new version of ``claim`` with ``Claim.status`` ``cancelled`` (sent as a void), ``finding`` on it."""
    resource = {**claim.resource, "status": "cancelled"}
    body = {k: v for k, v in resource.items() if k not in ("created", "meta")}
    digest = hashlib.sha256(orjson.dumps({"void": body}, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    new = claims_repo.NewVersion(
        claim_id=claim.claim_id, encounter=encounter, patient=claim.patient, payer_id=claim.payer_id, held=False,
        resource=resource, fingerprint=digest, mapping_version=claim.mapping_version, config_hash=claim.config_hash,
        em=claim.em, findings=[finding], filing_deadline=claim.filing_deadline, source_job_id=job_id, ehr=ehr,
    )  # fmt: skip
    return claims_repo.save_version(conn, new, now=now)
