"""``/smart/app``: the SMART app's pages and actions once launched (the launch itself: :mod:`app.web.smart`).

- ``GET /smart/app``: the encounter view (needs the ``cb_smart`` session, 401 page otherwise);
- ``GET /smart/app/panels/eligibility``: the eligibility panel alone (htmx polls it while a check is pending);
- ``POST /smart/app/eligibility``: re-check the visit's coverage (queued for the worker's eligibility duty);
- ``POST /smart/app/authorize``: request prior authorization of an order (PAS via the outbox);
- ``POST /smart/app/override``: override a finding, recorded with the user's ``fhirUser``.

Each action is recorded in the audit trail with the user's ``fhirUser`` (:mod:`app.web.smart_panels`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.db import audit_repo, claims_repo, eligibility_repo, outcomes_repo, priorauth_repo, web_repo
from app.db.engine import read_only
from app.db.web_repo import SessionRecord, SmartAppRecord
from app.overrides import override_and_audit
from app.priorauth.alerts import rules_for
from app.priorauth.submit import PasError, submit_order
from app.services import Services, services_of
from app.web.claim_view import claim_lines, group_findings
from app.web.render import WebError, render
from app.web.sessions import SMART_COOKIE, check_csrf, load_session, read_form
from app.web.smart import http_client
from app.web.smart_client import token_request
from app.web.smart_panels import eligibility_panel, priorauth_panel, recheck_key
from app.web.smart_scope import data_scope

router = APIRouter(prefix="/smart", include_in_schema=False)
MAX_POLLS = 60  # the pending eligibility panel refreshes itself every 2 s for at most 2 minutes


async def _smart_session(request: Request) -> SessionRecord:
    services = services_of(request)
    found = await load_session(services, request.cookies.get(SMART_COOKIE), "smart")
    if found is None or not found.subject:
        raise WebError(401, "Launch from your EHR", "Open claimbridge from inside your EHR to see this page.")
    return found


async def _posted(request: Request) -> tuple[SessionRecord, dict[str, str]]:
    """An action's session and form, its CSRF token checked (the session's, not a cookie's copy)."""
    session = await _smart_session(request)
    form = await read_form(request)
    check_csrf(session.csrf, form)
    return session, form


def _encounter_of(data: dict[str, Any]) -> str | None:
    encounter = data.get("encounter")
    if isinstance(encounter, str) and encounter:
        return encounter if encounter.startswith("Encounter/") else f"Encounter/{encounter}"
    for item in data.get("fhirContext") or []:
        ref = item.get("reference") if isinstance(item, dict) else None
        if isinstance(ref, str) and ref.startswith("Encounter/"):
            return ref
    return None


async def _access_token(services: Services, session: SessionRecord, http: httpx.AsyncClient) -> str:
    """The session's access token, refreshed with its refresh token when expired (and offered)."""
    data = session.data
    if float(data["expires_at"]) > services.clock().timestamp() + 10 or not data.get("refresh_token"):
        return str(data["access_token"])

    def app_of() -> SmartAppRecord | None:
        with read_only(services.engine) as conn:
            return web_repo.get_smart_app(conn, str(data["ehr"]), keys=services.gateway.secret_keys)

    app = await to_thread.run_sync(app_of)
    if app is None:
        return str(data["access_token"])
    form = {"grant_type": "refresh_token", "refresh_token": str(data["refresh_token"])}
    tokens = await token_request(http, app, str(data["token_endpoint"]), form, iss=str(data["iss"]))
    updated = {
        **data,
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token") or data["refresh_token"],
        "expires_at": services.clock().timestamp() + float(tokens.get("expires_in") or 300),
    }

    def save() -> None:
        with services.engine.begin() as conn:
            web_repo.update_session_data(conn, session.id, updated)

    await to_thread.run_sync(save)
    return str(updated["access_token"])


async def _patient_banner(services: Services, session: SessionRecord) -> dict[str, Any] | None:
    """Name and birth date of the launch's patient, read from the EHR with the user's token (None on failure)."""
    patient = session.data.get("patient")
    if not isinstance(patient, str) or not patient:
        return None
    try:
        async with http_client(services) as http:
            token = await _access_token(services, session, http)
            response = await http.get(
                f"{session.data['iss']}/Patient/{patient}",
                headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
            )
        if response.status_code != 200:
            return None
        body = response.json()
    except (httpx.HTTPError, ValueError, WebError):
        return None
    names = body.get("name") or [{}]
    first = names[0] if isinstance(names[0], dict) else {}
    text = first.get("text") or " ".join([*first.get("given", []), first.get("family", "")]).strip()
    return {"id": patient, "name": text or patient, "birthDate": body.get("birthDate")}


def _scope(conn: Any, session: SessionRecord) -> str:
    """The session's data scope (:func:`app.web.smart_scope.data_scope` of the EHR it signed in at)."""
    return data_scope(conn, str(session.data.get("ehr") or ""))


def _claim_of(conn: Any, encounter: str, ehr: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The encounter's outcome and claim, both of ``ehr`` (the session's scope), never another EHR's."""
    outcome = outcomes_repo.get_outcome(conn, encounter, ehr=ehr)
    claim = claims_repo.get_claim(conn, outcome["claim"]) if outcome and outcome["claim"] else None
    return outcome, claim if claim is not None and claim["ehr"] == ehr else None


@router.get("/app")
async def encounter_view(request: Request) -> HTMLResponse:
    services = services_of(request)
    session = await _smart_session(request)
    encounter = _encounter_of(session.data)

    def run() -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None, list[dict[str, Any]]]:
        if encounter is None:
            return None, None, None, []
        with read_only(services.engine) as conn:
            scope = _scope(conn, session)
            outcome, claim = _claim_of(conn, encounter, scope)
            payers, now = services.config.payers, services.clock()
            eligibility = eligibility_panel(conn, payers, encounter=encounter, claim=claim, now=now, ehr=scope)
            return outcome, claim, eligibility, priorauth_panel(conn, payers, encounter, ehr=scope)

    outcome, claim, eligibility, alerts = await to_thread.run_sync(run)
    banner = await _patient_banner(services, session)
    findings = claim["findings"] if claim else (outcome or {}).get("findings", [])
    q = request.query_params
    requested = q.get("requested")
    return render(
        request,
        "smart/encounter.html",
        user=None,
        fhir_user=session.subject,
        csrf=session.csrf,
        poll=0,
        max_polls=MAX_POLLS,
        encounter=encounter,
        outcome=outcome,
        claim=claim,
        view=claim_lines(claim["claim"]) if claim else None,
        groups=group_findings(findings),
        em=(claim or {}).get("em"),
        patient=banner,
        saved=q.get("saved"),
        eligibility=eligibility,
        alerts=alerts,
        rechecked=q.get("rechecked") == "1",
        requested=requested if any(a["order"] == requested for a in alerts) else None,
    )


@router.get("/app/panels/eligibility")
async def eligibility_fragment(request: Request) -> HTMLResponse:
    """The eligibility panel alone: what htmx swaps in while a re-check is pending (``poll``: how many
    times it asked; past :data:`MAX_POLLS` the panel stops asking and offers a reload link)."""
    services = services_of(request)
    session = await _smart_session(request)
    encounter = _encounter_of(session.data)
    if encounter is None:
        raise WebError(404, "No encounter", "The launch named no encounter.", link=("/smart/app", "Back"))

    def run() -> dict[str, Any]:
        with read_only(services.engine) as conn:
            scope = _scope(conn, session)
            _, claim = _claim_of(conn, encounter, scope)
            payers, now = services.config.payers, services.clock()
            return eligibility_panel(conn, payers, encounter=encounter, claim=claim, now=now, ehr=scope)

    polled = request.query_params.get("poll", "0")
    poll = int(polled) + 1 if polled.isdigit() and len(polled) < 4 else 1
    panel = await to_thread.run_sync(run)
    return render(request, "smart/_eligibility.html", eligibility=panel, csrf=session.csrf, poll=poll,
                  max_polls=MAX_POLLS)  # fmt: skip


def _launch_encounter(session: SessionRecord) -> str:
    encounter = _encounter_of(session.data)
    if encounter is None:
        raise WebError(400, "No encounter", "The launch named no encounter.", link=("/smart/app", "Back"))
    return encounter


@router.post("/app/eligibility")
async def recheck_eligibility(request: Request) -> Response:
    """Queue a verification of the visit's coverage now (the worker calls the payer), audited with the user."""
    services = services_of(request)
    session, _ = await _posted(request)
    encounter = _launch_encounter(session)
    user = str(session.subject)

    def run() -> str | None:
        now = services.clock()
        with services.engine.begin() as conn:
            scope = _scope(conn, session)
            _, claim = _claim_of(conn, encounter, scope)
            key = recheck_key(conn, services.config.payers, encounter=encounter, claim=claim, now=now, ehr=scope)
            if isinstance(key, str):
                return key
            check_id, queued = eligibility_repo.request_again(conn, key, now=now)
            audit_repo.record(
                conn,
                actor=user,
                actor_kind="smart",
                action="eligibility-recheck",
                entity=key.coverage,
                now=now,
                detail={"check": check_id, "encounter": encounter, "queued": queued, "ehr": session.data.get("ehr")},
            )
        return None

    problem = await to_thread.run_sync(run)
    if problem is not None:
        raise WebError(409, "Eligibility not re-checked", problem, link=("/smart/app", "Back to the encounter"))
    return RedirectResponse("/smart/app?rechecked=1#elig-h", status_code=303)


@router.post("/app/authorize")
async def request_authorization(request: Request) -> Response:
    """Start PAS for one of the encounter's orders (``claimbridge pa submit``), audited with the user."""
    services = services_of(request)
    session, form = await _posted(request)
    encounter = _launch_encounter(session)
    order = form.get("order", "")[:200]
    user = str(session.subject)
    rules = rules_for(services.config)

    def run() -> str | None:
        now = services.clock()
        with services.engine.begin() as conn:
            scope = _scope(conn, session)
            alert = priorauth_repo.get_alert(conn, order, ehr=scope) if order else None
            if alert is None or alert.encounter != encounter:  # only the launch's encounter's orders, in scope
                return None
            done = submit_order(conn, order, rules, now=now, ehr=scope)
            audit_repo.record(
                conn,
                actor=user,
                actor_kind="smart",
                action="pa-request",
                entity=order,
                now=now,
                detail={"payer": done.payer_id, "pas_identifier": done.pas_identifier, "ehr": session.data.get("ehr")},
            )
            return done.order_ref

    try:
        sent = await to_thread.run_sync(run)
    except PasError as exc:
        back = ("/smart/app", "Back to the encounter")
        raise WebError(409, "Authorization not requested", str(exc), link=back) from exc
    if sent is None:
        raise WebError(404, "Not found", "No such order alert on this encounter.", link=("/smart/app", "Back"))
    return RedirectResponse(f"/smart/app?requested={quote(sent, safe='')}#pa-h", status_code=303)


@router.post("/app/override")
async def override(request: Request) -> Response:
    services = services_of(request)
    session, form = await _posted(request)
    claim_id = form.get("claim", "")[:64]
    finding = form.get("finding", "")
    reason = form.get("reason", "").strip()
    if not finding.isdigit() or len(finding) > 18 or not claim_id:
        raise WebError(400, "Bad request", "The override form is incomplete.", link=("/smart/app", "Back"))
    if not 3 <= len(reason) <= 2000:
        raise WebError(400, "Reason needed", "Give a reason of 3 to 2000 characters.", link=("/smart/app", "Back"))
    encounter = _encounter_of(session.data)
    user = str(session.subject)

    def run() -> dict[str, Any] | None:
        with services.engine.begin() as conn:
            claim = claims_repo.get_claim(conn, claim_id)
            # only a claim of the launch's encounter in the session's scope (not another EHR's same id)
            if claim is None or claim["encounter"] != encounter or claim["ehr"] != _scope(conn, session):
                return None
            done = override_and_audit(
                conn, claim_id=claim_id, finding_id=int(finding), by=user[:100], actor_kind="smart", reason=reason,
                now=services.clock(), detail={"ehr": session.data.get("ehr")},
            )  # fmt: skip
            return done

    if await to_thread.run_sync(run) is None:
        raise WebError(404, "Not found", "No such finding on this encounter's claim.", link=("/smart/app", "Back"))
    return RedirectResponse(f"/smart/app?saved={finding}", status_code=303)
