"""``/smart``: the SMART-on-FHIR app for clinicians and the front desk.

- ``GET /smart/launch?iss=&launch=``: EHR launch (``&standalone=1`` without ``launch``: standalone
  launch). ``iss`` must be a registered EHR with a SMART registration (else a 400 page, before any
  outbound request); discovers ``{iss}/.well-known/smart-configuration`` and redirects to its
  ``authorization_endpoint`` with PKCE S256, a 256-bit ``state`` bound to this browser (the
  ``cb_launch`` cookie names the server-side pending launch), a nonce and ``aud`` = iss.
- ``GET /smart/callback``: consumes the pending launch (a replayed callback finds none), checks the
  state and its age, exchanges the code (public client, client secret, or private_key_jwt), verifies the
  id_token and keeps the tokens server-side; the browser gets only the ``cb_smart`` session cookie.
- ``GET /smart/app``: the encounter view (needs that session, 401 page otherwise);
  ``POST /smart/app/override``: override a finding, recorded with the user's ``fhirUser``;
  ``POST /smart/app/eligibility``: re-check the visit's coverage (queued for the worker's eligibility
  duty); ``GET /smart/app/panels/eligibility``: that panel alone (htmx polls it while a check is pending);
  ``POST /smart/app/authorize``: request prior authorization of an order (PAS via the outbox). Each
  action is recorded in the audit trail with the user's ``fhirUser`` (:mod:`app.web.smart_panels`).
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.db import audit_repo, claims_repo, ehr_repo, eligibility_repo, outcomes_repo, priorauth_repo, web_repo
from app.db.ehr_repo import EhrRecord
from app.db.engine import read_only
from app.db.web_repo import SessionRecord, SmartAppRecord
from app.priorauth.alerts import rules_for
from app.priorauth.submit import PasError, submit_order
from app.services import Services, services_of
from app.web.claim_view import claim_lines, group_findings
from app.web.render import WebError, render
from app.web.sessions import (
    LAUNCH_COOKIE,
    SMART_COOKIE,
    check_csrf,
    clear_cookie,
    load_session,
    read_form,
    set_cookie,
    start_session,
)
from app.web.smart_client import (
    SmartConfiguration,
    SmartError,
    authorize_url,
    discover,
    new_state,
    pkce_pair,
    token_request,
    verify_id_token,
)
from app.web.smart_panels import eligibility_panel, priorauth_panel, recheck_key
from app.web.smart_scope import data_scope

router = APIRouter(prefix="/smart", include_in_schema=False)
SESSION_HOURS = 8
MAX_POLLS = 60  # the pending eligibility panel refreshes itself every 2 s for at most 2 minutes
RELAUNCH = ("Launch claimbridge again from your EHR.",)


def _bad(title: str, message: str, status: int = 400) -> SmartError:
    return SmartError(status, title, message)


def _http(services: Services) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=services.settings.web.timeout_seconds, follow_redirects=False)


def _redirect_uri(services: Services) -> str:
    return f"{services.settings.api.public_base_url.rstrip('/')}/smart/callback"


async def _registered(services: Services, iss: str) -> tuple[EhrRecord, SmartAppRecord] | None:
    def run() -> tuple[EhrRecord, SmartAppRecord] | None:
        with read_only(services.engine) as conn:
            for ehr in ehr_repo.list_ehrs(conn):
                if ehr.base_url.rstrip("/") == iss:
                    app = web_repo.get_smart_app(conn, ehr.name, keys=services.gateway.secret_keys)
                    return (ehr, app) if app is not None else None
        return None

    return await to_thread.run_sync(run)


@router.get("/launch")
async def launch(request: Request) -> Response:
    services = services_of(request)
    q = request.query_params
    iss = (q.get("iss") or "").strip().rstrip("/")
    launch_id = q.get("launch") or None
    standalone = q.get("standalone") == "1"
    if not iss or (launch_id is None and not standalone):
        raise _bad("Launch parameters missing", "A launch needs iss and launch (or standalone=1). " + RELAUNCH[0])
    if len(iss) > 500 or (launch_id is not None and len(launch_id) > 2000):
        raise _bad("Launch parameters too long", "The launch parameters are too long.")
    found = await _registered(services, iss)
    if found is None:
        raise _bad("Unknown EHR", "This EHR is not configured for claimbridge. Ask your administrator to register it.")
    ehr, app = found
    async with _http(services) as http:
        config = await discover(http, iss)
    state, nonce = new_state(), new_state()
    verifier, challenge = pkce_pair()
    data = {
        "ehr": ehr.name,
        "iss": iss,
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "config": config.__dict__ | {"token_auth_methods": list(config.token_auth_methods)},
        "started_at": services.clock().timestamp(),
    }
    window = timedelta(seconds=services.settings.web.launch_seconds)
    # kept past its window so a late callback gets the "expired" page rather than "unknown state"
    token, _ = await start_session(
        services, kind="smart-pending", subject=None, role=None, data=data, lifetime=window + timedelta(hours=1)
    )
    target = authorize_url(
        config,
        app,
        iss=iss,
        redirect_uri=_redirect_uri(services),
        state=state,
        nonce=nonce,
        challenge=challenge,
        launch=launch_id,
    )
    response = RedirectResponse(target, status_code=302)
    set_cookie(response, services, LAUNCH_COOKIE, token, max_age=int(window.total_seconds()) + 3600)
    return response


@router.get("/callback")
async def callback(request: Request) -> Response:
    services = services_of(request)
    q = request.query_params
    cookie = request.cookies.get(LAUNCH_COOKIE)
    if not cookie or len(cookie) > 200:
        raise _bad("Sign-in not started here", "This browser did not start a claimbridge launch. " + RELAUNCH[0])

    def take() -> SessionRecord | None:
        with services.engine.begin() as conn:
            return web_repo.take_session(conn, cookie, kind="smart-pending")

    pending = await to_thread.run_sync(take)
    if pending is None:
        raise _bad("Sign-in already used", "This sign-in link was already used or is unknown. " + RELAUNCH[0])
    data = pending.data
    sent = q.get("state") or ""
    if not hmac.compare_digest(sent.encode(), str(data["state"]).encode()):
        raise _bad("Sign-in state does not match", "The sign-in answer does not belong to this launch. " + RELAUNCH[0])
    age = services.clock().timestamp() - float(data["started_at"])
    if age > services.settings.web.launch_seconds:
        raise _bad("Launch expired", "The launch took too long to complete. " + RELAUNCH[0])
    if q.get("error"):
        if q.get("error") == "access_denied":
            raise _bad("Access not granted", "You (or the EHR) declined access for claimbridge. " + RELAUNCH[0], 403)
        raise _bad("Sign-in failed", f"The EHR answered {q.get('error')!s:.60}. " + RELAUNCH[0])
    code = q.get("code")
    if not code:
        raise _bad("Sign-in failed", "The EHR sent no authorization code. " + RELAUNCH[0])
    iss = str(data["iss"])
    raw = dict(data["config"])
    config = SmartConfiguration(**{**raw, "token_auth_methods": tuple(raw.get("token_auth_methods") or ())})

    def app_of() -> SmartAppRecord | None:
        with read_only(services.engine) as conn:
            return web_repo.get_smart_app(conn, str(data["ehr"]), keys=services.gateway.secret_keys)

    app = await to_thread.run_sync(app_of)
    if app is None:
        raise _bad("Unknown EHR", "This EHR is no longer configured for claimbridge.")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _redirect_uri(services),
        "code_verifier": str(data["verifier"]),
    }
    async with _http(services) as http:
        tokens = await token_request(http, app, config.token_endpoint, form, iss=iss)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise _bad("Sign-in could not be verified", "The EHR sent no identity token (scope openid).")
        claims = await verify_id_token(
            http,
            config,
            id_token,
            iss=iss,
            client_id=app.client_id,
            nonce=str(data["nonce"]),
            now=services.clock().timestamp(),
        )
    user = claims.get("fhirUser") or claims.get("profile")
    if not isinstance(user, str) or not user:
        raise _bad("Sign-in could not be verified", "The identity token names no fhirUser (scope fhirUser).")
    now = services.clock().timestamp()
    session = {
        "ehr": app.ehr,
        "iss": iss,
        "token_endpoint": config.token_endpoint,
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token"),
        "expires_at": now + float(tokens.get("expires_in") or 300),
        "scope": tokens.get("scope"),
        "patient": tokens.get("patient"),
        "encounter": tokens.get("encounter"),
        "fhirContext": tokens.get("fhirContext") or [],
    }
    token, _ = await start_session(
        services, kind="smart", subject=user, role=None, data=session, lifetime=timedelta(hours=SESSION_HOURS)
    )
    response = RedirectResponse("/smart/app", status_code=303)
    set_cookie(response, services, SMART_COOKIE, token)
    clear_cookie(response, services, LAUNCH_COOKIE)
    return response


async def _smart_session(request: Request) -> SessionRecord:
    services = services_of(request)
    found = await load_session(services, request.cookies.get(SMART_COOKIE), "smart")
    if found is None or not found.subject:
        raise WebError(401, "Launch from your EHR", "Open claimbridge from inside your EHR to see this page.")
    return found


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
        async with _http(services) as http:
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
    session = await _smart_session(request)
    check_csrf(session.csrf, await read_form(request))
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
    session = await _smart_session(request)
    form = await read_form(request)
    check_csrf(session.csrf, form)
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
    session = await _smart_session(request)
    form = await read_form(request)
    check_csrf(session.csrf, form)
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
            done = claims_repo.override_finding(
                conn, claim_id=claim_id, finding_id=int(finding), by=user[:100], reason=reason, now=services.clock()
            )
            if done is not None:
                audit_repo.record(
                    conn,
                    actor=user,
                    actor_kind="smart",
                    action="override",
                    entity=f"Claim/{claim_id}/finding/{finding}",
                    now=services.clock(),
                    detail={"reason": reason, "ehr": session.data.get("ehr")},
                )
            return done

    if await to_thread.run_sync(run) is None:
        raise WebError(404, "Not found", "No such finding on this encounter's claim.", link=("/smart/app", "Back"))
    return RedirectResponse(f"/smart/app?saved={finding}", status_code=303)
