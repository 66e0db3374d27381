"""The console's dead-letters page, second and third tables: dead inbox rows and dead deliveries.

Listed for every signed-in user (never a raw body or payload: the audited raw view shows a
notification's body); replayed by an engineer, one row or all (inbox rows: all of the page's
subscription filter), through :func:`app.db.replays_repo.replay_dead` (audited, actor kind
``console``). A replayed inbox row is expanded again by the worker without a second job (dedupe
keys); a replayed delivery goes out again with the same idempotency key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from app.db import inbox_dead_repo, outbox_repo, subscriptions_repo
from app.db.replays_repo import DeadKind, replay_dead
from app.db.subscriptions_repo import SubscriptionName
from app.services import services_of
from app.web.render import WebError, render
from app.web.sessions import ConsoleUser, check_csrf, read_form, require

router = APIRouter(prefix="/console", include_in_schema=False)
engineer = Depends(require("engineer"))
#: How each kind is named in the page's confirmation (also: the only ``kind`` values it accepts).
REPLAYED = {"jobs": "dead letter(s)", "inbox": "dead inbox row(s)", "outbox": "dead delivery(ies)"}


def dead_rows(
    conn: Connection, keys: frozenset[str] | None, names: Mapping[str, SubscriptionName]
) -> dict[str, list[dict[str, Any]]]:
    """The page's inbox rows (of the subscriptions ``keys`` when filtered, named as the operator
    knows them) and deliveries (every destination)."""
    inbox = [asdict(d) for d in inbox_dead_repo.list_dead(conn) if keys is None or d.subscription_id in keys]
    return {
        "inbox_rows": subscriptions_repo.named(inbox, names),
        "deliveries": [asdict(d) for d in outbox_repo.list_dead(conn)],
    }


def scope_of(subscription: str | None, ehr: str | None) -> str:
    """What a replay of all the dead rows of a filter is audited as: ``all``, ``sub-1``, ``sub-1 (EHR ehr-b)``."""
    if ehr is None:
        return subscription or "all"
    return f"{subscription or '*'} (EHR {ehr})"


def _row(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        raise WebError(400, "Bad request", "row must be a whole number", link=("/console/dead-letters", "Dead letters"))
    return int(value)


@router.post("/dead-letters/inbox/replay")
async def replay_inbox(request: Request, user: ConsoleUser = engineer) -> Response:
    """Replay one dead inbox row (``row``), or all of them (of ``subscription`` when given)."""
    return await _replay(request, user, "inbox")


@router.post("/dead-letters/outbox/replay")
async def replay_outbox(request: Request, user: ConsoleUser = engineer) -> Response:
    """Replay one dead delivery (``row``), or all of them."""
    return await _replay(request, user, "outbox")


async def _replay(request: Request, user: ConsoleUser, kind: DeadKind) -> Response:
    services = services_of(request)
    form = await read_form(request)
    check_csrf(user.csrf, form)
    row = _row(form.get("row"))
    subscription = (form.get("subscription", "").strip()[:200] or None) if kind == "inbox" else None
    ehr = (form.get("ehr", "").strip()[:200] or None) if kind == "inbox" else None

    def run() -> int:
        with services.engine.begin() as conn:
            ids = None
            keys = subscriptions_repo.matching_keys(conn, subscription, ehr)
            if row is None and keys is not None:
                ids = [r.id for r in inbox_dead_repo.list_dead(conn, limit=100_000) if r.subscription_id in keys]
            now = services.clock()
            scope = scope_of(subscription, ehr)
            return replay_dead(
                conn, kind, row=row, ids=ids, scope=scope, actor=user.name, actor_kind="console", now=now
            )

    n = await to_thread.run_sync(run)
    if request.headers.get("hx-request"):
        return render(request, "console/replayed.html", user=user, replayed=n, what=REPLAYED[kind])
    return RedirectResponse(f"/console/dead-letters?replayed={n}&kind={kind}", status_code=303)
