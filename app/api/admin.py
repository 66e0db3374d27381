"""``/api/...``: read models and operator actions (claims, findings, dead letters, subscriptions and their
gaps). Every route needs the admin bearer token.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.outcomes import OutcomeError
from app.api.params import Offset, RowId, TextId
from app.api.reads import read, read_one
from app.api.security import require_admin
from app.db import audit_repo, claims_repo, ehr_repo, queue_repo, subscriptions_repo
from app.db.sql import iso
from app.domain.claim_status import ClaimStatus
from app.domain.findings import Category, Severity
from app.overrides import override_and_audit
from app.services import Services, services_of

router = APIRouter(prefix="/api", tags=["admin"], dependencies=[Depends(require_admin)])


@router.get("/claims")
async def list_claims(
    request: Request,
    status: ClaimStatus | None = None,
    payer: str | None = Query(None, max_length=200),
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    wanted = status.value if status else None
    return await read(
        request, lambda conn: claims_repo.list_claims(conn, status=wanted, payer=payer, limit=limit, offset=offset)
    )


@router.get("/claims/{claim_id}")
async def get_claim(request: Request, claim_id: TextId) -> dict[str, Any]:
    return await read_one(request, lambda conn: claims_repo.get_claim(conn, claim_id), f"no claim {claim_id}")


@router.get("/claims/{claim_id}/findings")
async def claim_findings(request: Request, claim_id: TextId) -> list[dict[str, Any]]:
    claim = await get_claim(request, claim_id)
    findings: list[dict[str, Any]] = claim["findings"]
    return findings


@router.get("/findings")
async def list_findings(
    request: Request,
    category: Category | None = None,
    payer: str | None = Query(None, max_length=200),
    severity: Severity | None = None,
    limit: int = Query(500, ge=1, le=5000),
) -> list[dict[str, Any]]:
    kind, level = (category.value if category else None), (severity.value if severity else None)
    return await read(
        request, lambda conn: claims_repo.list_findings(conn, category=kind, payer=payer, severity=level, limit=limit)
    )


class OverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000)


@router.post("/claims/{claim_id}/findings/{finding_id}/override")
async def override_finding(
    request: Request, claim_id: TextId, finding_id: RowId, body: OverrideRequest, user: str = Depends(require_admin)
) -> dict[str, Any]:
    services = services_of(request)

    def run() -> dict[str, Any] | None:
        with services.engine.begin() as conn:  # a claim left with no open error becomes ready for the submitter
            return override_and_audit(
                conn, claim_id=claim_id, finding_id=finding_id, by=user, actor_kind="api", reason=body.reason,
                now=services.clock(),
            )  # fmt: skip

    claim = await to_thread.run_sync(run)
    if claim is None:
        raise OutcomeError(404, f"no finding {finding_id} on the current version of claim {claim_id}")
    return claim


@router.get("/dead-letters")
async def dead_letters(request: Request) -> list[dict[str, Any]]:
    """Dead jobs; ``subscription_id`` is the subscription's id on its EHR, ``ehr`` the EHR's name."""
    return await read(
        request,
        lambda conn: subscriptions_repo.named(
            [{**asdict(d), "failed_at": iso(d.failed_at)} for d in queue_repo.list_dead(conn)],
            subscriptions_repo.subscription_names(conn),
        ),
    )


@router.post("/dead-letters/{job_id}/replay")
async def replay_one(request: Request, job_id: RowId, user: str = Depends(require_admin)) -> dict[str, int]:
    n = await _replay(services_of(request), [job_id], user)
    if n == 0:
        raise OutcomeError(404, f"no dead letter {job_id}")
    return {"replayed": n}


@router.post("/dead-letters/replay")
async def replay_all(request: Request, user: str = Depends(require_admin)) -> dict[str, int]:
    return {"replayed": await _replay(services_of(request), None, user)}


async def _replay(services: Services, ids: list[int] | None, user: str) -> int:
    def run() -> int:
        with services.engine.begin() as conn:
            n = queue_repo.replay(conn, job_ids=ids, now=services.clock())
            entity = f"job/{ids[0]}" if ids else "dead-letters/all"
            audit_repo.record(
                conn,
                actor=user,
                actor_kind="api",
                action="replay",
                entity=entity,
                now=services.clock(),
                detail={"replayed": n},
            )
            return n

    return await to_thread.run_sync(run)


@router.get("/subscriptions")
async def list_subscriptions(request: Request) -> list[dict[str, Any]]:
    return await read(request, subscriptions_repo.list_subscriptions)


GAP_STATUSES = ("open", "repaired", "failed")
GapStatus = Literal["open", "repaired", "failed", "all"]


@router.get("/gaps")
async def list_gaps(
    request: Request, status: GapStatus = "failed", limit: int = Query(200, ge=1, le=5000)
) -> list[dict[str, Any]]:
    """Subscription gaps (``status``: failed (default: recovery stopped), open, repaired or all)."""
    rows = await read(
        request,
        lambda conn: subscriptions_repo.named(
            ehr_repo.list_gaps(conn, status=None if status == "all" else status, limit=limit),
            subscriptions_repo.subscription_names(conn),
        ),
    )
    return [{**r, "detected_at": iso(r["detected_at"]), "repaired_at": iso(r["repaired_at"])} for r in rows]


@router.post("/gaps/{gap_id}/retry")
async def retry_gap(request: Request, gap_id: RowId, user: str = Depends(require_admin)) -> dict[str, Any]:
    """Reopen a gap whose recovery stopped (after fixing the cause): the next sweep recovers it."""
    services = services_of(request)

    def run() -> tuple[bool, str | None]:
        with services.engine.begin() as conn:
            reopened = ehr_repo.retry_gap(conn, gap_id)
            if reopened:
                audit_repo.record(
                    conn, actor=user, actor_kind="api", action="replay", entity=f"gap/{gap_id}", now=services.clock()
                )
            return reopened, ehr_repo.gap_status(conn, gap_id)

    reopened, status = await to_thread.run_sync(run)
    if status is None:
        raise OutcomeError(404, f"no gap {gap_id}")
    if not reopened:
        raise OutcomeError(409, f"gap {gap_id} is {status}, not failed")
    return {"gap": gap_id, "status": status}
