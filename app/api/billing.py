"""``/api/...`` revenue-cycle read models and the submit-now action. Every route needs the admin token.

- ``GET /api/denials?category=&payer=``       denial queue (category, payer, CARCs, findings, documentation,
                                                ``passed_scrubbing``: a rule expecting the CARC exists but did not fire)
- ``GET /api/underpayments?payer=``            underpayment alerts (expected vs actual allowed, per 835 line)
- ``GET /api/kpis?start=&end=&payer=&as_of=``  KPIs from stored data (default: the last 30 days, all payers)
- ``GET /api/x12/unmatched``                   answers that matched no claim (never dropped)
- ``GET /api/x12/batches``                     submitted 837P batches
- ``GET /api/claims/{id}/responses``           the ClaimResponses made for a claim
- ``POST /api/x12/submit``                     run the batch submitter now
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request

from app.api.outcomes import OutcomeError
from app.api.security import require_admin
from app.billing.kpis import compute_kpis
from app.db import billing_views
from app.db.engine import read_only
from app.services import KPI_WINDOW_DAYS, Services

router = APIRouter(prefix="/api", tags=["billing"], dependencies=[Depends(require_admin)])


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@router.get("/denials")
async def denials(
    request: Request, category: str | None = None, payer: str | None = None, limit: int = Query(500, ge=1, le=5000)
) -> list[dict[str, Any]]:
    services = _services(request)

    def run() -> list[dict[str, Any]]:
        with read_only(services.engine) as conn:
            return billing_views.list_denials(conn, category=category, payer=payer, limit=limit)

    return await to_thread.run_sync(run)


@router.get("/underpayments")
async def underpayments(
    request: Request, payer: str | None = None, limit: int = Query(500, ge=1, le=5000)
) -> list[dict[str, Any]]:
    services = _services(request)

    def run() -> list[dict[str, Any]]:
        with read_only(services.engine) as conn:
            return billing_views.list_underpayments(conn, payer=payer, limit=limit)

    return await to_thread.run_sync(run)


@router.get("/kpis")
async def kpis(
    request: Request,
    start: date | None = None,
    end: date | None = None,
    payer: str | None = None,
    as_of: date | None = None,
) -> dict[str, Any]:
    services = _services(request)
    last = end or services.clock().date()
    first = start or last - timedelta(days=KPI_WINDOW_DAYS - 1)
    if last < first:
        raise OutcomeError(400, f"period end {last} is before its start {first}")

    def run() -> dict[str, Any]:
        with read_only(services.engine) as conn:
            book = billing_views.revenue_book(conn)
        result: dict[str, Any] = _plain(asdict(compute_kpis(book, start=first, end=last, as_of=as_of, payer_id=payer)))
        return result

    return await to_thread.run_sync(run)


@router.get("/x12/unmatched")
async def unmatched(request: Request, limit: int = Query(500, ge=1, le=5000)) -> list[dict[str, Any]]:
    services = _services(request)

    def run() -> list[dict[str, Any]]:
        with read_only(services.engine) as conn:
            return billing_views.list_unmatched(conn, limit=limit)

    return await to_thread.run_sync(run)


@router.get("/x12/batches")
async def batches(request: Request, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    services = _services(request)

    def run() -> list[dict[str, Any]]:
        with read_only(services.engine) as conn:
            return billing_views.list_batches(conn, limit=limit)

    return await to_thread.run_sync(run)


@router.get("/claims/{claim_id}/responses")
async def responses(request: Request, claim_id: str) -> list[dict[str, Any]]:
    services = _services(request)

    def run() -> list[dict[str, Any]]:
        with read_only(services.engine) as conn:
            return billing_views.claim_responses(conn, claim_id)

    return await to_thread.run_sync(run)


@router.post("/x12/submit")
async def submit(request: Request) -> dict[str, Any]:
    """Run the batch submitter now; the worker's outbox delivers the file."""
    result = await to_thread.run_sync(_services(request).submitter().submit)
    return {
        "batch": result.batch_id,
        "interchange_control_number": result.interchange_control_number,
        "file_name": result.file_name,
        "submitted": [{"claim": c, "patient_control_number": p} for c, p in result.submitted],
        "held": [{"claim": c, "reasons": list(r)} for c, r in result.held],
    }
