"""``/smart``: the SMART-on-FHIR app for clinicians and the front desk.

- ``GET /smart/launch?iss=&launch=``: EHR launch (``&standalone=1`` without ``launch``: standalone
  launch). ``iss`` must be a registered EHR with a SMART registration (else a 400 page, before any
  outbound request); discovers ``{iss}/.well-known/smart-configuration`` and redirects to its
  ``authorization_endpoint`` with PKCE S256, a 256-bit ``state`` bound to this browser (the
  ``cb_launch`` cookie names the server-side pending launch), a nonce and ``aud`` = iss.
- ``GET /smart/callback``: consumes the pending launch (a replayed callback finds none), checks the
  state and its age, exchanges the code (public client, client secret, or private_key_jwt), verifies the
  id_token and keeps the tokens server-side; the browser gets only the ``cb_smart`` session cookie.
- the pages and actions once launched (``/smart/app...``): :mod:`app.web.smart_app`.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

import httpx
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.db import ehr_repo, web_repo
from app.db.ehr_repo import EhrRecord
from app.db.engine import read_only
from app.db.web_repo import SessionRecord, SmartAppRecord
from app.services import Services, services_of
from app.web.sessions import (
    LAUNCH_COOKIE,
    SMART_COOKIE,
    clear_cookie,
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

router = APIRouter(prefix="/smart", include_in_schema=False)
SESSION_HOURS = 8
RELAUNCH = ("Launch claimbridge again from your EHR.",)


def _bad(title: str, message: str, status: int = 400) -> SmartError:
    return SmartError(status, title, message)


def http_client(services: Services) -> httpx.AsyncClient:
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
    async with http_client(services) as http:
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
    async with http_client(services) as http:
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
