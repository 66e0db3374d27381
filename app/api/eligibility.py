"""``GET /api/eligibility?patient=&coverage=[&ehr=]``: stored verifications, newest first, with the
patient's expected share for the latest answer that has a claim. Needs the admin token like every
``/api`` route.

Identity is per EHR (:mod:`app.domain.tenancy`): two EHRs' ``Patient/1`` are two people. ``ehr``
(a registered EHR's name, or ``default`` for subscriptions that name none) limits the answer to that
EHR's checks; without it every EHR's checks are listed, each naming its ``ehr``.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request

from app.api.outcomes import OutcomeError
from app.api.security import require_admin
from app.db import eligibility_repo
from app.db.engine import read_only
from app.eligibility.share import visit_estimate
from app.services import services_of

router = APIRouter(prefix="/api", tags=["eligibility"], dependencies=[Depends(require_admin)])


def _key(value: str, resource_type: str) -> str:
    key = value if value.startswith(f"{resource_type}/") else f"{resource_type}/{value}"
    if key.count("/") != 1 or not key.split("/", 1)[1]:
        raise OutcomeError(400, f"{resource_type.lower()} must be {resource_type}/ID or an id")
    return key


@router.get("/eligibility")
async def list_eligibility(
    request: Request,
    patient: str | None = Query(None, max_length=200),
    coverage: str | None = Query(None, max_length=200),
    ehr: str | None = Query(None, min_length=1, max_length=100, description="one EHR's checks (default: every EHR)"),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    if not patient and not coverage:
        raise OutcomeError(400, "give patient or coverage")
    services = services_of(request)
    who = _key(patient, "Patient") if patient else None
    which = _key(coverage, "Coverage") if coverage else None

    def run() -> dict[str, Any]:
        with read_only(services.engine) as conn:
            checks = eligibility_repo.list_checks(conn, patient=who, coverage=which, ehr=ehr, limit=limit)
            latest = next((c for c in checks if c["status"] in ("active", "inactive", "error")), None)
            return {
                "checks": checks,
                "latest": latest,
                "estimate": visit_estimate(conn, services.config.payers, latest) if latest else None,
            }

    return await to_thread.run_sync(run)
