"""``/api/inbox`` and ``/api/outbox``: dead inbox rows and dead deliveries, listed and replayed.

Admin scope (the operator surface, :data:`app.api.security.ADMIN_PATHS`). A replayed inbox row is
expanded again by the worker (its jobs deduplicated on their keys); a replayed delivery is sent
again with the same idempotency key. Every replay is audited (:mod:`app.db.replays_repo`); an id
that is not dead is a 404 OperationOutcome.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request

from app.api.outcomes import OutcomeError
from app.api.params import RowId
from app.api.reads import read
from app.api.security import require_admin
from app.db import inbox_dead_repo, outbox_repo, subscriptions_repo
from app.db.replays_repo import DeadKind, replay_dead
from app.db.sql import iso
from app.services import Services, services_of

router = APIRouter(prefix="/api", tags=["admin"], dependencies=[Depends(require_admin)])
Limit = Query(500, ge=1, le=5000)


@router.get("/inbox/dead")
async def dead_inbox_rows(request: Request, limit: int = Limit) -> list[dict[str, Any]]:
    """Inbox rows whose expansion into jobs failed, oldest first, with the reason (never the body);
    ``subscription_id`` is the subscription's id on its EHR, ``ehr`` the EHR's name."""
    return await read(
        request,
        lambda conn: subscriptions_repo.named(
            [{**asdict(d), "received_at": iso(d.received_at)} for d in inbox_dead_repo.list_dead(conn, limit=limit)],
            subscriptions_repo.subscription_names(conn),
        ),
    )


@router.post("/inbox/{inbox_id}/replay")
async def replay_inbox_row(request: Request, inbox_id: RowId, user: str = Depends(require_admin)) -> dict[str, int]:
    return await _replay_one(services_of(request), "inbox", inbox_id, user)


@router.post("/inbox/replay")
async def replay_inbox_rows(request: Request, user: str = Depends(require_admin)) -> dict[str, int]:
    return {"replayed": await _replay(services_of(request), "inbox", None, user)}


@router.get("/outbox/dead")
async def dead_deliveries(request: Request, limit: int = Limit) -> list[dict[str, Any]]:
    """Deliveries that failed for good, oldest first, with their key and last error (never the payload)."""
    return await read(
        request,
        lambda conn: [{**asdict(d), "created_at": iso(d.created_at)} for d in outbox_repo.list_dead(conn, limit=limit)],
    )


@router.post("/outbox/{delivery_id}/replay")
async def replay_delivery(request: Request, delivery_id: RowId, user: str = Depends(require_admin)) -> dict[str, int]:
    return await _replay_one(services_of(request), "outbox", delivery_id, user)


@router.post("/outbox/replay")
async def replay_deliveries(request: Request, user: str = Depends(require_admin)) -> dict[str, int]:
    return {"replayed": await _replay(services_of(request), "outbox", None, user)}


async def _replay_one(services: Services, kind: DeadKind, row: int, user: str) -> dict[str, int]:
    n = await _replay(services, kind, row, user)
    if n == 0:
        raise OutcomeError(404, f"no dead {'inbox row' if kind == 'inbox' else 'delivery'} {row}")
    return {"replayed": n}


async def _replay(services: Services, kind: DeadKind, row: int | None, user: str) -> int:
    def run() -> int:
        with services.engine.begin() as conn:
            return replay_dead(conn, kind, row=row, actor=user, actor_kind="api", now=services.clock())

    return await to_thread.run_sync(run)
