"""``/api/x12/quarantine``: inbound files the ingester kept failing on, and their release. Admin token.

- ``GET /api/x12/quarantine?status=``            quarantined files (``status``: quarantined (default),
                                                   failing, released or all): name, source, attempts,
                                                   the last error (class and a PHI-free message), when
- ``POST /api/x12/quarantine/{id}/release``      after a fix: offer the file again (the folder source
                                                   moves it back into the inbox); the next poll ingests it.
                                                   409 when it is not quarantined (any more).

The same as ``claimbridge x12 quarantine list|release``; see :mod:`app.worker.quarantine`.
"""

from __future__ import annotations

from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request

from app.adapters.registry import build_adapters, build_response_source
from app.api.outcomes import OutcomeError
from app.api.params import RowId
from app.api.reads import read
from app.api.security import require_admin
from app.db import quarantine_repo
from app.services import services_of
from app.worker.quarantine import NoSuchFile, NotQuarantined, release

QuarantineStatus = Literal["failing", "quarantined", "released", "all"]
router = APIRouter(prefix="/api/x12", tags=["billing"], dependencies=[Depends(require_admin)])


@router.get("/quarantine")
async def quarantine(
    request: Request, status: QuarantineStatus = "quarantined", limit: int = Query(500, ge=1, le=5000)
) -> list[dict[str, Any]]:
    return await read(
        request,
        lambda conn: quarantine_repo.list_failures(conn, status=None if status == "all" else status, limit=limit),
    )


@router.post("/quarantine/{failure_id}/release")
async def release_file(request: Request, failure_id: RowId, user: str = Depends(require_admin)) -> dict[str, Any]:
    services = services_of(request)

    def run() -> dict[str, Any]:
        settings = services.settings
        source = build_response_source(settings, build_adapters(settings))
        return release(services.engine, source, failure_id, by=user, now=services.clock())

    try:
        return await to_thread.run_sync(run)
    except NoSuchFile as exc:
        raise OutcomeError(404, str(exc)) from None
    except NotQuarantined as exc:
        raise OutcomeError(409, str(exc)) from None
