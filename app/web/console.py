"""``/console``: the integration console (sign-in, dashboard, messages, dead letters, subscriptions, config).

The dead-letters page also lists dead inbox rows and dead deliveries (their replays: :mod:`app.web.dead_rows`).

Every page needs a console session (401 page with a sign-in link otherwise); viewing a raw payload
and replaying need the engineer role, and both are written to the audit trail.
"""

from __future__ import annotations

import hmac
import threading
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.billing.kpis import compute_kpis
from app.db import (
    billing_views,
    claims_repo,
    ehr_repo,
    messages_repo,
    queue_repo,
    subscriptions_repo,
    web_repo,
)
from app.db.engine import read_only
from app.db.messages_repo import KINDS, MessageFilter
from app.ehr.recovery import Sweeper
from app.logging import get_logger
from app.services import Services, services_of
from app.web import candidate
from app.web.charts import bar_chart
from app.web.dead_rows import REPLAYED, dead_rows
from app.web.render import WebError, render
from app.web.sessions import (
    CONSOLE_COOKIE,
    LOGIN_CSRF_COOKIE,
    OIDC_PREFIX,
    ConsoleUser,
    check_csrf,
    check_password,
    clear_cookie,
    console_session,
    hash_password,
    needs_rehash,
    new_token,
    read_form,
    record_action,
    record_sign_in,
    require,
    set_cookie,
    start_session,
)
from app.web.sign_in_throttle import SignInThrottle
from app.whatif import DiffReport
from app.whatif_replay import reading, stored_encounters
from app.whatif_replay import replay as replay_encounters

log = get_logger("claimbridge.web")
router = APIRouter(prefix="/console", include_in_schema=False)
viewer = Depends(require("viewer"))
engineer = Depends(require("engineer"))
PAGE_SIZE = 50
JOB_STATUSES = ("pending", "done", "dead")
MONTHS = 6


def _sso(services: Services) -> str | None:
    """The label of the single sign-on button, when OIDC sign-in is configured."""
    web = services.settings.web
    return web.oidc_label if web.oidc_issuer else None


@router.get("/login")
async def login_page(request: Request, error: str | None = None) -> Response:
    services = services_of(request)
    if await console_session(request) is not None:
        return RedirectResponse("/console/", status_code=303)
    token = new_token()
    response = render(request, "console/login.html", csrf=token, error=error, user=None, sso=_sso(services))
    set_cookie(response, services, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    services = services_of(request)
    form = await read_form(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), form.get("csrf", "").encode()):
        raise WebError(
            403,
            "Form expired",
            "The sign-in form was stale; reload it and try again.",
            link=("/console/login", "Sign in"),
        )
    name, password = form.get("name", "").strip()[:100], form.get("password", "")
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    address = request.client.host if request.client else "unknown"
    wait = await to_thread.run_sync(throttle.retry_after, name, address)
    if wait is not None:  # refused before the password is even checked: guessing costs the window
        log.warning("console sign-in throttled", retry_after=int(wait) + 1)
        raise WebError(
            429,
            "Too many sign-in attempts",
            f"Too many wrong passwords for this account or from this address; try again in {int(wait) + 1} seconds.",
            link=("/console/login", "Sign in"),
            headers={"Retry-After": str(int(wait) + 1)},
        )

    def check() -> str | None:
        with services.engine.begin() as conn:
            local = not name.startswith(OIDC_PREFIX)  # an OIDC user's name is never a local account
            user = web_repo.get_user(conn, name) if local else None
            ok = check_password(user.password_hash if user and not user.disabled else None, password)
            record_sign_in(conn, services, name, ok, detail={"via": "password"})
            if not ok or user is None:
                return None
            if needs_rehash(user.password_hash):
                web_repo.set_password_hash(conn, name, hash_password(password))
            return user.role

    role = await to_thread.run_sync(check)
    if role is None:
        await to_thread.run_sync(throttle.failed, name, address)
        token = new_token()
        refused = render(
            request,
            "console/login.html",
            status=401,
            csrf=token,
            user=None,
            error="Wrong name or password.",
            sso=_sso(services),
        )
        set_cookie(refused, services, LOGIN_CSRF_COOKIE, token, max_age=3600)
        return refused
    await to_thread.run_sync(throttle.account.clear, name)
    lifetime = timedelta(minutes=services.settings.web.session_idle_minutes)
    token, _ = await start_session(services, kind="console", subject=name, role=role, data={}, lifetime=lifetime)
    response = RedirectResponse("/console/", status_code=303)
    set_cookie(response, services, CONSOLE_COOKIE, token)
    clear_cookie(response, services, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, user: ConsoleUser = viewer) -> Response:
    services = services_of(request)
    check_csrf(user.csrf, await read_form(request))
    token = request.cookies.get(CONSOLE_COOKIE, "")

    def run() -> None:
        with services.engine.begin() as conn:
            web_repo.end_session(conn, token)

    await to_thread.run_sync(run)
    response = RedirectResponse("/console/login", status_code=303)
    clear_cookie(response, services, CONSOLE_COOKIE)
    return response


def _months(today: date, count: int) -> list[tuple[date, date]]:
    periods = []
    first = today.replace(day=1)
    for _ in range(count):
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        periods.append((first, min(last, today)))
        first = (first - timedelta(days=1)).replace(day=1)
    return list(reversed(periods))


@router.get("/")
async def dashboard(request: Request, user: ConsoleUser = viewer) -> HTMLResponse:
    services = services_of(request)
    today = services.clock().date()

    def run() -> dict[str, Any]:
        with read_only(services.engine) as conn:
            book = billing_views.revenue_book(conn)
            findings = claims_repo.finding_counts(conn)
            denials = billing_views.list_denials(conn, status=None, limit=10_000)
        queue = services.queue_snapshot()
        passed: dict[str, int] = {}
        for d in denials:
            if d["passed_scrubbing"]:
                for rule in d["expected_by"] or [f"({d['category']})"]:
                    passed[rule] = passed.get(rule, 0) + 1
        periods = [compute_kpis(book, start=a, end=b) for a, b in _months(today, MONTHS)]
        current = periods[-1]
        by_rule: dict[str, int] = {}
        for (category, _severity), n in findings.items():
            by_rule[category] = by_rule.get(category, 0) + n
        label = [p.start.strftime("%b %Y") for p in periods]
        return {
            "kpis": current,
            "queue": queue,
            "charts": [
                bar_chart(
                    "Clean claim rate by month",
                    list(zip(label, [p.submission.clean_claim_rate for p in periods], strict=True)),
                    percent=True,
                ),
                bar_chart(
                    "Denial rate by month",
                    list(zip(label, [p.denials.denial_rate for p in periods], strict=True)),
                    percent=True,
                ),
                bar_chart(
                    "Denial rate by category (this month)",
                    sorted(current.denials.rate_by_category.items()),
                    percent=True,
                ),
                bar_chart(
                    "Days to submission by month",
                    list(zip(label, [p.submission.days_to_submit for p in periods], strict=True)),
                    unit=" d",
                ),
                bar_chart(
                    "Denials that passed scrubbing, by rule that should have caught them",
                    [(k, float(v)) for k, v in sorted(passed.items(), key=lambda kv: -kv[1])[:10]],
                ),
                bar_chart(
                    "Findings on current claims by category", [(k, float(v)) for k, v in sorted(by_rule.items())]
                ),
            ],
        }

    data = await to_thread.run_sync(run)
    return render(request, "console/dashboard.html", user=user, **data)


def _parse_time(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise WebError(400, "Bad filter", f"{field} must be a date or date-time, e.g. 2026-11-20") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: str | None, field: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        raise WebError(400, "Bad request", f"{field} must be a whole number")
    return int(value)


@router.get("/messages")
async def messages(request: Request, user: ConsoleUser = viewer) -> HTMLResponse:
    services = services_of(request)
    q = {k: v.strip()[:200] for k, v in request.query_params.items() if v.strip()}
    kind = q.get("kind", "jobs")
    if kind not in KINDS:
        raise WebError(400, "Bad filter", f"kind must be one of {', '.join(KINDS)}")
    filters = MessageFilter(
        status=q.get("status"),
        subscription=q.get("subscription"),
        encounter=q.get("encounter"),
        patient=q.get("patient"),
        claim=q.get("claim"),
        payer=q.get("payer"),
        destination=q.get("destination"),
        since=_parse_time(q.get("since"), "since"),
        until=_parse_time(q.get("until"), "until"),
    )
    before = _int(q.get("before"), "before")

    def run() -> messages_repo.Page:
        with read_only(services.engine) as conn:
            return messages_repo.browse(conn, kind, filters, before=before, limit=PAGE_SIZE)

    page = await to_thread.run_sync(run)
    params = {k: v for k, v in q.items() if k != "before"}
    template = "console/messages_rows.html" if request.headers.get("hx-request") else "console/messages.html"
    return render(
        request, template, user=user, kind=kind, kinds=KINDS, page=page, q=q, params=params, statuses=JOB_STATUSES
    )


@router.get("/messages/{kind}/{message_id}")
async def message_detail(request: Request, kind: str, message_id: str, user: ConsoleUser = viewer) -> HTMLResponse:
    services = services_of(request)
    number = _int(message_id, "id")
    assert number is not None

    def run() -> dict[str, Any] | None:
        with read_only(services.engine) as conn:
            if kind == "jobs":
                return messages_repo.job_detail(conn, number)
            if kind == "notifications":
                return messages_repo.notification_detail(conn, number)
            if kind == "deliveries":
                return messages_repo.delivery_detail(conn, number)
        return None

    found = await to_thread.run_sync(run) if kind in KINDS else None
    if found is None:
        raise WebError(404, "Not found", f"No {kind} message {message_id}.", link=("/console/messages", "Messages"))
    payload = found.pop("payload", None)
    return render(request, "console/message.html", user=user, kind=kind, message=found, payload=payload)


@router.get("/messages/notifications/{message_id}/raw")
async def raw_payload(request: Request, message_id: str, user: ConsoleUser = engineer) -> HTMLResponse:
    """The notification body exactly as received: engineers only, and every view is in the audit trail."""
    services = services_of(request)
    number = _int(message_id, "id")
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
async def dead_letters(request: Request, user: ConsoleUser = viewer) -> HTMLResponse:
    services = services_of(request)
    subscription = request.query_params.get("subscription", "").strip()[:200] or None

    def run() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        with read_only(services.engine) as conn:
            rows = [asdict(d) for d in queue_repo.list_dead(conn)]
            others = dead_rows(conn, subscription)  # dead inbox rows and deliveries (app.web.dead_rows)
        return [r for r in rows if subscription is None or r["subscription_id"] == subscription], others

    rows, others = await to_thread.run_sync(run)
    replayed = request.query_params.get("replayed")
    return render(
        request,
        "console/dead_letters.html",
        user=user,
        rows=rows,
        subscription=subscription,
        replayed=replayed if replayed is None or replayed.isdigit() else None,
        what=REPLAYED.get(request.query_params.get("kind", "jobs"), REPLAYED["jobs"]),
        inbox_rows=others["inbox_rows"],
        deliveries=others["deliveries"],
    )


@router.post("/dead-letters/replay")
async def replay(request: Request, user: ConsoleUser = engineer) -> Response:
    """Replay one dead letter (``job``) or every dead letter matching ``subscription`` (or all)."""
    services = services_of(request)
    form = await read_form(request)
    check_csrf(user.csrf, form)
    one = _int(form.get("job"), "job")
    subscription = form.get("subscription", "").strip()[:200] or None

    def run() -> int:
        with services.engine.begin() as conn:
            if one is not None:
                ids: list[int] | None = [one]
            elif subscription is not None:
                ids = [d.id for d in queue_repo.list_dead(conn, limit=100_000) if d.subscription_id == subscription]
            else:
                ids = None
            n = queue_repo.replay(conn, job_ids=ids, now=services.clock()) if ids != [] else 0
            record_action(
                conn,
                services,
                user,
                "replay",
                f"job/{one}" if one is not None else f"dead-letters/{subscription or 'all'}",
                detail={"replayed": n},
            )
            return n

    n = await to_thread.run_sync(run)
    if request.headers.get("hx-request"):
        return render(request, "console/replayed.html", user=user, replayed=n)
    return RedirectResponse(f"/console/dead-letters?replayed={n}", status_code=303)


@router.get("/subscriptions")
async def subscriptions(request: Request, user: ConsoleUser = viewer) -> HTMLResponse:
    services = services_of(request)

    def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
        with read_only(services.engine) as conn:
            return (
                subscriptions_repo.list_subscriptions(conn),
                ehr_repo.list_gaps(conn, status=None, limit=200),
                ehr_repo.list_ehrs(conn),
            )

    subs, gaps, ehrs = await to_thread.run_sync(run)
    reactivated = request.query_params.get("reactivated", "")[:200] or None
    return render(
        request, "console/subscriptions.html", user=user, subs=subs, gaps=gaps, ehrs=ehrs, reactivated=reactivated
    )


def _config_context(services: Services) -> dict[str, Any]:
    cfg = services.config
    payers = sorted(cfg.payers.profiles.values(), key=lambda p: p.payer_id)
    unique = {p.payer_id: p for p in payers}
    rule_files = sorted(p.name for p in (cfg.directory / "rules").glob("*.yaml")) if cfg.directory.is_dir() else []
    web = services.settings.web
    return {
        "cfg": cfg,
        "payers": list(unique.values()),
        "rule_files": rule_files,
        "settings": services.settings,
        "roots": web.candidate_config_roots,
        "max_upload": web.whatif_max_upload_bytes,
        "max_encounters": web.whatif_max_encounters,
    }


@router.get("/config")
async def config(request: Request, user: ConsoleUser = viewer) -> HTMLResponse:
    return render(request, "console/config.html", user=user, **_config_context(services_of(request)))


_WHATIF_RUNNING = threading.Lock()  # one what-if replay per process at a time


@router.post("/config/whatif")
async def whatif(request: Request, user: ConsoleUser = engineer) -> HTMLResponse:
    """Replay the stored encounters through a candidate configuration (uploaded or a server directory).

    Read-only (the CLI's ``claimbridge diff`` replay, every transaction rolled back); bad input is the
    config page again with the problem, 400; every attempt is in the audit trail.
    """
    services = services_of(request)
    web = services.settings.web
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > web.whatif_max_upload_bytes:
        raise WebError(413, "Upload too large", f"A candidate may be at most {web.whatif_max_upload_bytes:,} bytes.")
    body = await request.body()
    if len(body) > web.whatif_max_upload_bytes:
        raise WebError(413, "Upload too large", f"A candidate may be at most {web.whatif_max_upload_bytes:,} bytes.")
    try:
        form = candidate.parse_multipart(request.headers.get("content-type", ""), body)
    except candidate.CandidateError as exc:
        raise WebError(400, "Bad form", str(exc), link=("/console/config", "Config")) from exc
    check_csrf(user.csrf, form.fields)
    directory = form.fields.get("directory", "").strip()
    files = [f"{u.kind}/{u.name}" for u in form.uploads]
    source = directory if directory else "upload: " + ", ".join(files)
    refdata = [services.settings.refdata_dir] if services.settings.refdata_dir.is_dir() else []

    def audit(outcome: str, detail: dict[str, Any]) -> None:
        with services.engine.begin() as conn:
            record_action(
                conn,
                services,
                user,
                "what-if",
                "config/candidate",
                outcome=outcome,
                detail={"source": source[:300], **detail},
            )

    def run() -> tuple[str, DiffReport]:
        if not _WHATIF_RUNNING.acquire(blocking=False):
            raise WebError(503, "Busy", "Another what-if is running; try again shortly.", headers={"Retry-After": "5"})
        try:
            with reading(services.engine) as conn:
                count = len(stored_encounters(conn))
            if count > web.whatif_max_encounters:
                raise candidate.CandidateError(
                    f"{count:,} stored encounters is more than this page replays ({web.whatif_max_encounters:,}, "
                    "web.whatif_max_encounters): run `claimbridge diff --config DIR` instead"
                )
            with ExitStack() as stack:
                if directory:
                    path = candidate.allowed_directory(directory, web.candidate_config_roots)
                    cfg = candidate.directory_candidate(path, refdata)
                else:
                    cfg = stack.enter_context(
                        candidate.uploaded_candidate(services.config.directory, form.uploads, refdata)
                    )
                now = services.clock()
                report = replay_encounters(services.engine, config=cfg, baseline=services.config, now=now, as_of=None)
                return cfg.config_hash, report
        finally:
            _WHATIF_RUNNING.release()

    try:
        config_hash, report = await to_thread.run_sync(run)
    except candidate.CandidateError as exc:
        await to_thread.run_sync(audit, "failure", {"error": str(exc)[:300]})
        return render(
            request,
            "console/config.html",
            status=400,
            user=user,
            whatif_error=str(exc),
            directory=directory,
            **_config_context(services),
        )
    await to_thread.run_sync(
        audit,
        "success",
        {
            "config_hash": config_hash,
            "changed": report.count("changed"),
            "added": report.count("added"),
            "removed": report.count("removed"),
        },
    )
    return render(
        request,
        "console/whatif.html",
        user=user,
        report=report,
        source=source,
        config_hash=config_hash,
        current_hash=services.config.config_hash,
    )


@router.post("/subscriptions/reactivate")
async def reactivate(request: Request, user: ConsoleUser = engineer) -> Response:
    """Re-activate a subscription the EHR stopped (``error``/``off``) now, not at the next sweep.

    The sweep's own path (:class:`app.ehr.recovery.Sweeper`): ``$status`` on the EHR, a PUT back to
    ``requested`` when it is stopped (the EHR handshakes again), the remote status recorded and the
    ``stopped`` gap repaired. Audited whatever the EHR answered.
    """
    services = services_of(request)
    form = await read_form(request)
    check_csrf(user.csrf, form)
    sid = form.get("subscription", "").strip()[:200]
    back = ("/console/subscriptions", "Subscriptions")

    def run() -> tuple[str, str]:
        with read_only(services.engine) as conn:
            states = ehr_repo.sweep_states(conn, subscription_id=sid) if sid else []
        if not states:
            return "missing", ""
        state = states[0]
        if state.status not in ("error", "off"):
            return "not-stopped", state.status
        if state.ehr is None:
            return "no-ehr", state.status
        sweeper = Sweeper(
            engine=services.engine,
            gateway=services.gateway,
            settings=services.settings.ehr,
            metrics=services.metrics,
            clock=services.clock,
        )
        sweeper.check_contact(state, services.clock())
        sweeper.update_health(sid)
        with services.engine.begin() as conn:
            after = ehr_repo.sweep_states(conn, subscription_id=sid)[0].status
            ok = after not in ("error", "off")
            record_action(
                conn,
                services,
                user,
                "reactivate",
                f"Subscription/{state.fhir_id}",
                outcome="success" if ok else "failure",
                detail={"before": state.status, "after": after},
            )
        return ("done" if ok else "failed"), after

    outcome, status = await to_thread.run_sync(run)
    if outcome == "missing":
        raise WebError(404, "Not found", f"No subscription {sid!r}.", link=back)
    if outcome == "not-stopped":
        raise WebError(409, "Not stopped", f"Subscription {sid} is {status}: nothing to re-activate.", link=back)
    if outcome == "no-ehr":
        raise WebError(
            409,
            "No EHR to ask",
            f"Subscription {sid} is not linked to a registered EHR: re-activate it on the EHR's side.",
            link=back,
        )
    if outcome == "failed":
        raise WebError(
            502,
            "Not re-activated",
            f"The EHR did not re-activate subscription {sid} (status {status}); the sweep keeps trying.",
            link=back,
        )
    return RedirectResponse(f"/console/subscriptions?reactivated={quote(sid)}", status_code=303)


@router.post("/subscriptions/gaps/retry")
async def retry_gap(request: Request, user: ConsoleUser = engineer) -> Response:
    """Reopen a gap whose recovery stopped (after the fix): the next sweep recovers it."""
    services = services_of(request)
    form = await read_form(request)
    check_csrf(user.csrf, form)
    gap = _int(form.get("gap"), "gap")
    if gap is None:
        raise WebError(400, "Bad request", "Which gap?", link=("/console/subscriptions", "Subscriptions"))

    def run() -> bool:
        with services.engine.begin() as conn:
            reopened = ehr_repo.retry_gap(conn, gap)
            if reopened:
                record_action(conn, services, user, "replay", f"gap/{gap}")
            return reopened

    if not await to_thread.run_sync(run):
        raise WebError(
            409,
            "Not reopened",
            f"Gap {gap} is not a stopped recovery.",
            link=("/console/subscriptions", "Subscriptions"),
        )
    return RedirectResponse("/console/subscriptions", status_code=303)
