"""``/api/...`` revenue-cycle read models and the submit-now action. Every route needs the admin token.

- ``GET /api/denials?category=&payer=``       denial queue (category, payer, CARCs, findings, documentation,
                                                ``passed_scrubbing``: a rule expecting the CARC exists but did not fire)
- ``GET /api/underpayments?payer=``            underpayment alerts (expected vs actual allowed, per 835 line)
- ``POST /api/denials/{id}``, ``POST /api/underpayments/{id}``  record what was done: ``{"status", "note"}``
                                                (who from ``X-Claimbridge-User``); lists show ``status=open``
                                                unless asked for another status or ``all``
- ``GET /api/kpis?start=&end=&payer=&as_of=``  KPIs from stored data (default: the last 30 days, all payers)
- ``GET /api/x12/unmatched``                   answers that matched no claim (never dropped)
- ``GET /api/x12/remittances?balanced=``       835 transactions: payment, claims paid, PLB adjustments, balance
- ``GET /api/x12/batches``                     submitted 837P batches
- ``GET /api/claims/{id}/responses``           the ClaimResponses made for a claim
- ``POST /api/x12/submit``                     run the batch submitter now
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.outcomes import OutcomeError
from app.api.params import RowId, TextId, checked_date
from app.api.reads import read
from app.api.security import require_admin
from app.billing.kpis import compute_kpis
from app.billing.snapshot import KPI_WINDOW_DAYS
from app.db import billing_views
from app.db.engine import read_only
from app.domain.findings import Category
from app.services import services_of

router = APIRouter(prefix="/api", tags=["billing"], dependencies=[Depends(require_admin)])


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


class WorkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(max_length=20)
    note: str | None = Field(None, max_length=2000)


DenialStatus = Literal["open", "appealed", "corrected", "written-off", "closed", "all"]
UnderpaymentStatus = Literal["open", "disputed", "recovered", "accepted", "closed", "all"]


def _status_filter(status: str, allowed: tuple[str, ...]) -> str | None:
    if status == "all":
        return None
    return _allowed(status, allowed, extra=" or all")


def _allowed(status: str, allowed: tuple[str, ...], *, extra: str = "") -> str:
    if status not in allowed:
        raise OutcomeError(400, f"status {status!r} is not one of {', '.join(allowed)}{extra}")
    return status


@router.get("/denials")
async def denials(
    request: Request,
    category: Category | None = None,
    payer: str | None = Query(None, max_length=200),
    status: DenialStatus = "open",
    limit: int = Query(500, ge=1, le=5000),
) -> list[dict[str, Any]]:
    wanted = _status_filter(status, billing_views.DENIAL_STATUSES)
    kind = category.value if category else None
    return await read(
        request, lambda conn: billing_views.list_denials(conn, category=kind, payer=payer, status=wanted, limit=limit)
    )


WORKLISTS = {"denials": billing_views.DENIAL_STATUSES, "underpayments": billing_views.UNDERPAYMENT_STATUSES}


def _work_route(queue: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``POST /api/{queue}/{id}``: record what was done with a denial or an underpayment alert."""

    async def work(request: Request, item_id: RowId, body: WorkRequest, user: str = Depends(require_admin)) -> Any:
        services = services_of(request)
        status = _allowed(body.status, WORKLISTS[queue])

        def run() -> dict[str, Any] | None:
            with services.engine.begin() as conn:
                return billing_views.work_item(
                    conn, queue=queue, item_id=item_id, status=status, by=user, note=body.note, now=services.clock()
                )

        item = await to_thread.run_sync(run)
        if item is None:
            raise OutcomeError(404, f"no {queue} entry {item_id}")
        return item

    return work


for _queue in WORKLISTS:
    router.add_api_route(
        f"/{_queue}/{{item_id}}", _work_route(_queue), methods=["POST"], summary=f"Work an entry of {_queue}"
    )


@router.get("/underpayments")
async def underpayments(
    request: Request,
    payer: str | None = Query(None, max_length=200),
    status: UnderpaymentStatus = "open",
    limit: int = Query(500, ge=1, le=5000),
) -> list[dict[str, Any]]:
    wanted = _status_filter(status, billing_views.UNDERPAYMENT_STATUSES)
    return await read(
        request, lambda conn: billing_views.list_underpayments(conn, payer=payer, status=wanted, limit=limit)
    )


@router.get("/kpis")
async def kpis(
    request: Request,
    start: date | None = None,
    end: date | None = None,
    payer: str | None = Query(None, max_length=200),
    as_of: date | None = None,
) -> dict[str, Any]:
    services = services_of(request)
    start, end, as_of = checked_date(start, "start"), checked_date(end, "end"), checked_date(as_of, "as_of")
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


@router.get("/x12/remittances")
async def remittances(
    request: Request, balanced: bool | None = None, limit: int = Query(500, ge=1, le=5000)
) -> list[dict[str, Any]]:
    return await read(request, lambda conn: billing_views.list_remittances(conn, balanced=balanced, limit=limit))


@router.get("/x12/unmatched")
async def unmatched(request: Request, limit: int = Query(500, ge=1, le=5000)) -> list[dict[str, Any]]:
    return await read(request, lambda conn: billing_views.list_unmatched(conn, limit=limit))


@router.get("/x12/batches")
async def batches(request: Request, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return await read(request, lambda conn: billing_views.list_batches(conn, limit=limit))


@router.get("/claims/{claim_id}/responses")
async def responses(request: Request, claim_id: TextId) -> list[dict[str, Any]]:
    return await read(request, lambda conn: billing_views.claim_responses(conn, claim_id))


@router.post("/x12/submit")
async def submit(request: Request) -> dict[str, Any]:
    """Run the batch submitter now; the worker's outbox delivers the file."""
    result = await to_thread.run_sync(services_of(request).submitter().submit)
    return {
        "batch": result.batch_id,
        "interchange_control_number": result.interchange_control_number,
        "file_name": result.file_name,
        "submitted": [{"claim": c, "patient_control_number": p} for c, p in result.submitted],
        "held": [{"claim": c, "reasons": list(r)} for c, r in result.held],
    }
