"""``GET /api/alerts?patient=&encounter=&payer=&status=&ehr=``: prior-authorization alerts (admin token).

One alert per order that needs authorization, with its state (open, submitted, approved, denied,
pended, cancelled), the payer and codes, the authorization number once approved and the reason of
a denial. ``status=all`` (the default) lists every state. Alerts are per EHR (ADR 0011: two EHRs'
``ServiceRequest/1`` are two orders): each names its ``ehr``; ``ehr=`` lists one EHR's (the default
EHR is ``default``), without it every EHR's.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request

from app.api.outcomes import OutcomeError
from app.api.security import require_admin
from app.db import priorauth_repo
from app.db.engine import read_only
from app.services import services_of

router = APIRouter(prefix="/api", tags=["prior-auth"], dependencies=[Depends(require_admin)])


@router.get("/alerts")
async def list_alerts(
    request: Request,
    patient: str | None = None,
    encounter: str | None = None,
    payer: str | None = None,
    status: str = "all",
    ehr: str | None = Query(None, min_length=1, max_length=100),
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    if status != "all" and status not in priorauth_repo.STATES:
        raise OutcomeError(400, f"status must be all or one of {', '.join(priorauth_repo.STATES)}")
    engine = services_of(request).engine

    def read() -> list[dict[str, Any]]:
        with read_only(engine) as conn:
            rows = priorauth_repo.list_alerts(conn, patient=patient, encounter=encounter, payer=payer,
                                              status=None if status == "all" else status, ehr=ehr,
                                              limit=limit)  # fmt: skip
        return [a.view() for a in rows]

    return {"alerts": await to_thread.run_sync(read)}
