"""A finding overridden by a person, and the audit event saying who and why, in the caller's transaction.

Used by the admin API (``POST /api/claims/{id}/findings/{n}/override``) and the SMART app's override
form; both write the same audit event (``override`` on ``Claim/{id}/finding/{n}``), with their actor kind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.db import audit_repo, claims_repo


def override_and_audit(
    conn: Connection,
    *,
    claim_id: str,
    finding_id: int,
    by: str,
    actor_kind: str,
    reason: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The claim after the override (re-derived held/ready status), or None: no such current finding."""
    claim = claims_repo.override_finding(conn, claim_id=claim_id, finding_id=finding_id, by=by, reason=reason, now=now)
    if claim is not None:
        audit_repo.record(
            conn,
            actor=by,
            actor_kind=actor_kind,
            action="override",
            entity=f"Claim/{claim_id}/finding/{finding_id}",
            now=now,
            detail={"reason": reason, **(detail or {})},
        )
    return claim
