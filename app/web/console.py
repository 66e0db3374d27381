"""``/console``: the integration console: sign-in, sign-out and the dashboard, and what its pages share.

The other pages: messages and dead letters (:mod:`app.web.console_messages`; dead inbox rows and
deliveries: :mod:`app.web.dead_rows`), subscriptions (:mod:`app.web.console_subscriptions`), the
configuration and its what-if (:mod:`app.web.console_config`).

Every page needs a console session (401 page with a sign-in link otherwise, :data:`VIEWER`); what
changes something or shows a raw payload needs the engineer role (:data:`ENGINEER`) and is written
to the audit trail.
"""

from __future__ import annotations

import hmac
from datetime import UTC, date, datetime, timedelta
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.billing.kpis import compute_kpis
from app.db import (
    billing_views,
    claims_repo,
    web_repo,
)
from app.db.engine import read_only
from app.logging import get_logger
from app.services import Services, services_of
from app.web.charts import bar_chart
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
    record_sign_in,
    require,
    set_cookie,
    start_session,
)
from app.web.sign_in_throttle import SignInThrottle

log = get_logger("claimbridge.web")
router = APIRouter(prefix="/console", include_in_schema=False)
VIEWER = Depends(require("viewer"))
ENGINEER = Depends(require("engineer"))
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
async def logout(request: Request, user: ConsoleUser = VIEWER) -> Response:
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
async def dashboard(request: Request, user: ConsoleUser = VIEWER) -> HTMLResponse:
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


def parse_time(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise WebError(400, "Bad filter", f"{field} must be a date or date-time, e.g. 2026-11-20") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_int(value: str | None, field: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        raise WebError(400, "Bad request", f"{field} must be a whole number")
    return int(value)
