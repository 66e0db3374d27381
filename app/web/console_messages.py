"""``/console/messages`` and ``/console/dead-letters``: browse jobs, notifications and deliveries; replay.

Viewing a raw payload and replaying need the engineer role, and both are written to the audit trail.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.db import (
    messages_repo,
    queue_repo,
    subscriptions_repo,
)
from app.db.engine import read_only
from app.db.messages_repo import KINDS, MessageFilter
from app.services import services_of
from app.web.console import ENGINEER, JOB_STATUSES, PAGE_SIZE, VIEWER, parse_int, parse_time
from app.web.dead_rows import REPLAYED, dead_rows, scope_of
from app.web.render import WebError, render
from app.web.sessions import (
    ConsoleUser,
    check_csrf,
    read_form,
    record_action,
)

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/messages")
async def messages(request: Request, user: ConsoleUser = VIEWER) -> HTMLResponse:
    services = services_of(request)
    q = {k: v.strip()[:200] for k, v in request.query_params.items() if v.strip()}
    kind = q.get("kind", "jobs")
    if kind not in KINDS:
        raise WebError(400, "Bad filter", f"kind must be one of {', '.join(KINDS)}")
    filters = MessageFilter(
        status=q.get("status"),
        subscription=q.get("subscription"),
        ehr=q.get("ehr"),
        encounter=q.get("encounter"),
        patient=q.get("patient"),
        claim=q.get("claim"),
        payer=q.get("payer"),
        destination=q.get("destination"),
        since=parse_time(q.get("since"), "since"),
        until=parse_time(q.get("until"), "until"),
    )
    before = parse_int(q.get("before"), "before")

    def run() -> messages_repo.Page:
        with read_only(services.engine) as conn:
            found = messages_repo.browse(conn, kind, filters, before=before, limit=PAGE_SIZE)
            return replace(
                found, rows=subscriptions_repo.named(found.rows, subscriptions_repo.subscription_names(conn))
            )

    page = await to_thread.run_sync(run)
    params = {k: v for k, v in q.items() if k != "before"}
    template = "console/messages_rows.html" if request.headers.get("hx-request") else "console/messages.html"
    return render(
        request, template, user=user, kind=kind, kinds=KINDS, page=page, q=q, params=params, statuses=JOB_STATUSES
    )


@router.get("/messages/{kind}/{message_id}")
async def message_detail(request: Request, kind: str, message_id: str, user: ConsoleUser = VIEWER) -> HTMLResponse:
    services = services_of(request)
    number = parse_int(message_id, "id")
    assert number is not None

    def run() -> dict[str, Any] | None:
        with read_only(services.engine) as conn:
            if kind == "jobs":
                found = messages_repo.job_detail(conn, number)
            elif kind == "notifications":
                found = messages_repo.notification_detail(conn, number)
            else:
                return messages_repo.delivery_detail(conn, number)
            names = subscriptions_repo.subscription_names(conn)
        return subscriptions_repo.named([found], names)[0] if found is not None else None

    found = await to_thread.run_sync(run) if kind in KINDS else None
    if found is None:
        raise WebError(404, "Not found", f"No {kind} message {message_id}.", link=("/console/messages", "Messages"))
    payload = found.pop("payload", None)
    found.pop("dedupe_key", None)  # internal (it holds the subscription's internal key)
    return render(request, "console/message.html", user=user, kind=kind, message=found, payload=payload)


@router.get("/messages/notifications/{message_id}/raw")
async def raw_payload(request: Request, message_id: str, user: ConsoleUser = ENGINEER) -> HTMLResponse:
    """The notification body exactly as received: engineers only, and every view is in the audit trail."""
    services = services_of(request)
    number = parse_int(message_id, "id")
    assert number is not None

    def run() -> bytes | None:
        with services.engine.begin() as conn:
            if messages_repo.notification_detail(conn, number) is None:
                return None
            record_action(conn, services, user, "payload-view", f"inbox/{number}")
            return queue_repo.inbox_body(conn, number)

    body = await to_thread.run_sync(run)
    if body is None:
        raise WebError(404, "Not found", f"No notification {message_id}.", link=("/console/messages", "Messages"))
    return render(
        request, "console/raw.html", user=user, message_id=number, body=body.decode("utf-8", errors="replace")
    )


@router.get("/dead-letters")
async def dead_letters(request: Request, user: ConsoleUser = VIEWER) -> HTMLResponse:
    services = services_of(request)
    subscription = request.query_params.get("subscription", "").strip()[:200] or None
    ehr = request.query_params.get("ehr", "").strip()[:200] or None

    def run() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        with read_only(services.engine) as conn:
            keys = subscriptions_repo.matching_keys(conn, subscription, ehr)
            rows = [asdict(d) for d in queue_repo.list_dead(conn) if keys is None or d.subscription_id in keys]
            names = subscriptions_repo.subscription_names(conn)
            others = dead_rows(conn, keys, names)  # dead inbox rows and deliveries (app.web.dead_rows)
        return subscriptions_repo.named(rows, names), others

    rows, others = await to_thread.run_sync(run)
    replayed = request.query_params.get("replayed")
    return render(
        request,
        "console/dead_letters.html",
        user=user,
        rows=rows,
        subscription=subscription,
        ehr=ehr,
        scope=scope_of(subscription, ehr) if subscription or ehr else None,
        replayed=replayed if replayed is None or replayed.isdigit() else None,
        what=REPLAYED.get(request.query_params.get("kind", "jobs"), REPLAYED["jobs"]),
        inbox_rows=others["inbox_rows"],
        deliveries=others["deliveries"],
    )


@router.post("/dead-letters/replay")
async def replay(request: Request, user: ConsoleUser = ENGINEER) -> Response:
    """Replay one dead letter (``job``) or every dead letter matching ``subscription`` (or all)."""
    services = services_of(request)
    form = await read_form(request)
    check_csrf(user.csrf, form)
    one = parse_int(form.get("job"), "job")
    subscription = form.get("subscription", "").strip()[:200] or None
    ehr = form.get("ehr", "").strip()[:200] or None

    def run() -> int:
        with services.engine.begin() as conn:
            keys = subscriptions_repo.matching_keys(conn, subscription, ehr)
            if one is not None:
                ids: list[int] | None = [one]
            elif keys is not None:
                ids = [d.id for d in queue_repo.list_dead(conn, limit=100_000) if d.subscription_id in keys]
            else:
                ids = None
            n = queue_repo.replay(conn, job_ids=ids, now=services.clock()) if ids != [] else 0
            record_action(
                conn,
                services,
                user,
                "replay",
                f"job/{one}" if one is not None else f"dead-letters/{scope_of(subscription, ehr)}",
                detail={"replayed": n},
            )
            return n

    n = await to_thread.run_sync(run)
    if request.headers.get("hx-request"):
        return render(request, "console/replayed.html", user=user, replayed=n)
    return RedirectResponse(f"/console/dead-letters?replayed={n}", status_code=303)
