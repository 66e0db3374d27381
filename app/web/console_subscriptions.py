"""``/console/subscriptions``: subscriptions, their EHRs and gaps; re-activate one, retry a stopped gap (engineers)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.db import (
    ehr_repo,
    subscriptions_repo,
)
from app.db.engine import read_only
from app.db.subscriptions_repo import SubscriptionName
from app.ehr.recovery import Sweeper
from app.services import services_of
from app.web.console import ENGINEER, VIEWER, parse_int
from app.web.render import WebError, render
from app.web.sessions import (
    ConsoleUser,
    check_csrf,
    read_form,
    record_action,
)

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/subscriptions")
async def subscriptions(request: Request, user: ConsoleUser = VIEWER) -> HTMLResponse:
    services = services_of(request)

    def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
        with read_only(services.engine) as conn:
            names = subscriptions_repo.subscription_names(conn)
            return (
                subscriptions_repo.list_subscriptions(conn),
                subscriptions_repo.named(ehr_repo.list_gaps(conn, status=None, limit=200), names),
                ehr_repo.list_ehrs(conn),
            )

    subs, gaps, ehrs = await to_thread.run_sync(run)
    reactivated = request.query_params.get("reactivated", "")[:200] or None
    ehr = request.query_params.get("ehr", "")[:200] or None
    return render(
        request,
        "console/subscriptions.html",
        user=user,
        subs=subs,
        gaps=gaps,
        ehrs=ehrs,
        reactivated=_label(reactivated, ehr) if reactivated else None,
    )


def _label(subscription: str, ehr: str | None) -> str:
    """A subscription as the operator names it: ``sub-1 (EHR ehr-b)``."""
    return f"{subscription} (EHR {ehr})" if ehr else subscription


@router.post("/subscriptions/reactivate")
async def reactivate(request: Request, user: ConsoleUser = ENGINEER) -> Response:
    """Re-activate a subscription the EHR stopped (``error``/``off``) now, not at the next sweep.

    The sweep's own path (:class:`app.ehr.recovery.Sweeper`): ``$status`` on the EHR, a PUT back to
    ``requested`` when it is stopped (the EHR handshakes again), the remote status recorded and the
    ``stopped`` gap repaired. Audited whatever the EHR answered.
    """
    services = services_of(request)
    form = await read_form(request)
    check_csrf(user.csrf, form)
    asked = form.get("subscription", "").strip()[:200]
    ehr = form.get("ehr", "").strip()[:200] or None
    found: list[SubscriptionName] = []  # the subscription meant, as the operator names it
    back = ("/console/subscriptions", "Subscriptions")

    def run() -> tuple[str, str]:
        with read_only(services.engine) as conn:
            keys = sorted(subscriptions_repo.matching_keys(conn, asked, ehr) or ()) if asked else []
            names = subscriptions_repo.subscription_names(conn)
            known = [key for key in keys if key in names]
            if len(known) > 1:  # the same id on several EHRs: which one?
                return "ambiguous", ", ".join(sorted(str(names[key].ehr or "no EHR") for key in known))
            sid = known[0] if known else ""
            found.extend(names[key] for key in known)
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
    name = found[0] if found else SubscriptionName(asked, ehr)
    label = _label(name.id, name.ehr)
    if outcome == "missing":
        raise WebError(404, "Not found", f"No subscription {label!r}.", link=back)
    if outcome == "ambiguous":
        raise WebError(
            409, "Which EHR?", f"Several EHRs have a subscription {asked!r} ({status}): name the EHR.", link=back
        )
    if outcome == "not-stopped":
        raise WebError(409, "Not stopped", f"Subscription {label} is {status}: nothing to re-activate.", link=back)
    if outcome == "no-ehr":
        raise WebError(
            409,
            "No EHR to ask",
            f"Subscription {label} is not linked to a registered EHR: re-activate it on the EHR's side.",
            link=back,
        )
    if outcome == "failed":
        raise WebError(
            502,
            "Not re-activated",
            f"The EHR did not re-activate subscription {label} (status {status}); the sweep keeps trying.",
            link=back,
        )
    query = f"reactivated={quote(name.id)}" + (f"&ehr={quote(name.ehr)}" if name.ehr else "")
    return RedirectResponse(f"/console/subscriptions?{query}", status_code=303)


@router.post("/subscriptions/gaps/retry")
async def retry_gap(request: Request, user: ConsoleUser = ENGINEER) -> Response:
    """Reopen a gap whose recovery stopped (after the fix): the next sweep recovers it."""
    services = services_of(request)
    form = await read_form(request)
    check_csrf(user.csrf, form)
    gap = parse_int(form.get("gap"), "gap")
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
