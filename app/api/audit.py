"""``GET /api/audit?action=&since=&after=&_count=``: the audit trail as a FHIR Bundle of AuditEvent.

Oldest first; ``after`` is the last id of the previous page (the ``next`` link carries it). Needs the
admin bearer token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.api.outcomes import OutcomeError
from app.api.params import DB_INT_MAX
from app.api.security import require_admin
from app.audit.fhir import audit_bundle
from app.db import audit_repo
from app.db.engine import read_only
from app.services import services_of

router = APIRouter(prefix="/api", tags=["audit"], dependencies=[Depends(require_admin)])


@router.get("/audit")
async def audit(
    request: Request,
    action: str | None = None,
    since: datetime | None = None,
    after: int | None = Query(None, ge=0, le=DB_INT_MAX),
    count: int = Query(500, ge=1, le=5000, alias="_count"),
) -> Response:
    if action is not None and action not in audit_repo.ACTIONS:
        raise OutcomeError(400, f"action {action!r} is not one of {', '.join(audit_repo.ACTIONS)}")
    services = services_of(request)
    start = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since

    def run() -> list[dict[str, Any]]:
        with read_only(services.engine) as conn:
            return audit_repo.list_events(conn, action=action, since=start, after_id=after, limit=count)

    rows = await to_thread.run_sync(run)
    next_url = None
    if len(rows) == count:
        params = dict(request.query_params) | {"after": str(rows[-1]["id"])}
        next_url = str(request.url.replace_query_params(**params))
    return Response(orjson.dumps(audit_bundle(rows, next_url=next_url)), media_type="application/fhir+json")
