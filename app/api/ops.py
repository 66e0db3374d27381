"""Operations endpoints: liveness, readiness, Prometheus metrics.

``/healthz`` and ``/readyz`` answer probes (container HEALTHCHECK, orchestrators) and carry no data
beyond a status word, so they are open; ``/metrics`` needs the admin bearer token.
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from app.api.outcomes import OutcomeError
from app.api.security import require_admin
from app.db import migrate
from app.db.engine import read_only
from app.services import services_of

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    services = services_of(request)

    def check() -> str | None:
        try:
            with read_only(services.engine) as conn:
                conn.execute(text("SELECT 1"))
            if not migrate.is_current(services.engine):
                return "database schema is not at the current migration (run `claimbridge db upgrade`)"
        except Exception as exc:
            return f"database unreachable: {type(exc).__name__}"
        return None

    problem = await to_thread.run_sync(check)
    if problem:
        raise OutcomeError(503, problem)
    return {"status": "ready"}


@router.get(
    "/metrics",
    dependencies=[Depends(require_admin)],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
)
async def metrics(request: Request) -> Response:
    services = services_of(request)
    body = await to_thread.run_sync(services.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
