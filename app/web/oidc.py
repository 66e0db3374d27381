"""``/console/oidc``: console sign-in through an OpenID Connect provider (``web.oidc_*``).

- ``GET /console/oidc/start``: discovery (``{issuer}/.well-known/openid-configuration``, whose
  ``issuer`` must be the configured one and whose endpoints must be https: plain http only on a
  loopback host outside production, as for the issuer itself at start-up), then a redirect to its
  ``authorization_endpoint`` (authlib's OAuth 2 client: authorization code, PKCE S256, a 256-bit
  ``state`` and a nonce). The pending sign-in is a server-side session of its own (cookie
  ``cb_oidc``), consumed by the callback.
- ``GET /console/oidc/callback``: checks ``state`` and age (``web.launch_seconds``), exchanges the
  code (``client_secret_basic`` with the code verifier), verifies the id_token (signature from the
  provider's JWKS, ``iss``, ``aud``, ``exp``, nonce), takes the name and role from the configured
  claims (the name qualified ``oidc:<issuer host>:<name>``, its own name space beside the local
  accounts') and starts a console session like a password sign-in does (audited ``sign-in``, via
  oidc).

Every failure is an HTML page with a link back to the sign-in page; nothing is stored but the audit row.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from anyio import to_thread
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.db import web_repo
from app.db.web_repo import SessionRecord
from app.http_policy import Verdict, classify
from app.services import Services, services_of
from app.settings import WebSettings, insecure_url_problem
from app.web.render import WebError
from app.web.sessions import (
    CONSOLE_COOKIE,
    OIDC_PREFIX,
    clear_cookie,
    highest_role,
    record_sign_in,
    set_cookie,
    start_session,
)

router = APIRouter(prefix="/console/oidc", include_in_schema=False)
OIDC_COOKIE = "cb_oidc"
ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
CLOCK_SKEW_SECONDS = 120
BACK = ("/console/login", "Sign in")


def _refused(title: str, message: str, status: int = 400) -> WebError:
    return WebError(status, title, message, link=BACK)


def _down(what: str) -> WebError:
    message = f"The sign-in provider could not be used ({what})."
    return WebError(502, "Sign-in provider not answering", message, link=BACK)


def _web(services: Services) -> WebSettings:
    web = services.settings.web
    if not web.oidc_issuer:
        raise WebError(404, "Not found", "Single sign-on is not configured.", link=BACK)
    return web


def _redirect_uri(services: Services) -> str:
    return f"{services.settings.api.public_base_url.rstrip('/')}/console/oidc/callback"


def _client(services: Services, web: WebSettings) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=web.oidc_client_id,
        client_secret=web.oidc_client_secret.get_secret_value(),
        scope=web.oidc_scopes,
        redirect_uri=_redirect_uri(services),
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name, not a secret
        timeout=web.timeout_seconds,
        follow_redirects=False,
    )


def _http(services: Services) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=services.settings.web.timeout_seconds, follow_redirects=False)


async def _get_json(http: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise _down(f"{what}: {type(exc).__name__}") from exc
    if classify(response.status_code) is not Verdict.OK:
        raise _down(f"{what} answered {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise _down(f"{what} is not JSON") from exc
    if not isinstance(data, dict):
        raise _down(f"{what} is not a JSON object")
    return data


async def discover(http: httpx.AsyncClient, issuer: str, *, production: bool) -> dict[str, str]:
    """The provider's endpoints; every one https (plain http only on loopback outside production)."""
    data = await _get_json(http, f"{issuer.rstrip('/')}/.well-known/openid-configuration", "openid-configuration")
    wanted = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    if not all(isinstance(data.get(k), str) for k in wanted):
        raise _down("openid-configuration lacks issuer, authorization_endpoint, token_endpoint or jwks_uri")
    if data["issuer"].rstrip("/") != issuer.rstrip("/"):
        raise _down("openid-configuration names another issuer")
    methods = data.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise _down("the provider does not support PKCE S256")
    for key in wanted:
        problem = insecure_url_problem(data[key], production=production)
        if problem:
            raise _down(f"openid-configuration {key} {problem}")
    return {k: str(data[k]) for k in wanted}


def role_of(claims: dict[str, Any], web: WebSettings) -> str | None:
    """The highest console role the role claim grants (through ``oidc_roles``), or None."""
    value = claims.get(web.oidc_role_claim)
    values = value if isinstance(value, list) else [value]
    return highest_role(web.oidc_roles.get(v, v) for v in values if isinstance(v, str))


def name_of(claims: dict[str, Any], web: WebSettings) -> str | None:
    """The console name: ``oidc:<issuer host>:<name claim, else sub>`` (see :func:`qualified`)."""
    for key in (web.oidc_name_claim, "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip() and value.isprintable():
            return qualified(web.oidc_issuer, value.strip()[:100])
    return None


def qualified(issuer: str, value: str) -> str:
    """An OIDC user's name in sessions and the audit trail, never equal to a local account's name
    (those may not contain ``:``, and a password sign-in refuses the ``oidc:`` prefix)."""
    return f"{OIDC_PREFIX}{urlsplit(issuer).netloc.lower()}:{value}"[:300]


async def verify_id_token(
    http: httpx.AsyncClient, endpoints: dict[str, str], id_token: str, *, client_id: str, nonce: str, now: float
) -> dict[str, Any]:
    jwks = await _get_json(http, endpoints["jwks_uri"], "JWKS")
    refused = _refused("Sign-in could not be verified", "The provider's identity token did not check out.")
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=list(ID_TOKEN_ALGS))  # type: ignore[arg-type]
        jwt.JWTClaimsRegistry(
            now=int(now),
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": endpoints["issuer"]},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise refused from exc
    return dict(token.claims)


@router.get("/start")
async def start(request: Request) -> Response:
    services = services_of(request)
    web = _web(services)
    async with _http(services) as http:
        endpoints = await discover(http, web.oidc_issuer, production=services.settings.env == "production")
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    async with _client(services, web) as client:
        url, _ = client.create_authorization_url(
            endpoints["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
        )
    data = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "endpoints": endpoints,
        "started_at": services.clock().timestamp(),
    }
    window = timedelta(seconds=web.launch_seconds)
    token, _ = await start_session(
        services, kind="oidc-pending", subject=None, role=None, data=data, lifetime=window + timedelta(hours=1)
    )
    response = RedirectResponse(url, status_code=302)
    set_cookie(response, services, OIDC_COOKIE, token, max_age=int(window.total_seconds()) + 3600)
    return response


@router.get("/callback")
async def callback(request: Request) -> Response:
    services = services_of(request)
    web = _web(services)
    q = request.query_params
    cookie = request.cookies.get(OIDC_COOKIE)
    if not cookie or len(cookie) > 200:
        raise _refused("Sign-in not started here", "This browser did not start a single sign-on here.")

    def take() -> SessionRecord | None:
        with services.engine.begin() as conn:
            return web_repo.take_session(conn, cookie, kind="oidc-pending")

    pending = await to_thread.run_sync(take)
    if pending is None:
        raise _refused("Sign-in already used", "This sign-in answer was already used or is unknown.")
    data = pending.data
    if not hmac.compare_digest((q.get("state") or "").encode(), str(data["state"]).encode()):
        raise _refused("Sign-in state does not match", "The sign-in answer does not belong to this browser.")
    if services.clock().timestamp() - float(data["started_at"]) > web.launch_seconds:
        raise _refused("Sign-in expired", "The sign-in took too long to complete.")
    if q.get("error"):
        if q.get("error") == "access_denied":
            raise _refused("Access not granted", "The sign-in provider declined the sign-in.", 403)
        raise _refused("Sign-in failed", f"The sign-in provider answered {q.get('error')!s:.60}.")
    code = q.get("code")
    if not code or len(code) > 2000:
        raise _refused("Sign-in failed", "The sign-in provider sent no usable authorization code.")
    endpoints = {k: str(v) for k, v in dict(data["endpoints"]).items()}
    async with _client(services, web) as client:
        try:
            tokens = await client.fetch_token(
                endpoints["token_endpoint"], code=code, code_verifier=str(data["verifier"]), state=str(data["state"])
            )
        except httpx.HTTPError as exc:
            raise _down(f"token endpoint: {type(exc).__name__}") from exc
        except (AuthlibBaseError, ValueError) as exc:
            raise _refused("Sign-in refused", "The sign-in provider refused the code; sign in again.") from exc
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise _refused("Sign-in could not be verified", "The provider sent no identity token (scope openid).")
    async with _http(services) as http:
        claims = await verify_id_token(
            http,
            endpoints,
            id_token,
            client_id=web.oidc_client_id,
            nonce=str(data["nonce"]),
            now=services.clock().timestamp(),
        )
    name, role = name_of(claims, web), role_of(claims, web)

    def audit() -> None:
        with services.engine.begin() as conn:
            record_sign_in(conn, services, name, bool(role), detail={"via": "oidc", "issuer": web.oidc_issuer})

    await to_thread.run_sync(audit)
    if name is None or role is None:
        raise _refused(
            "No console role",
            f"You signed in, but your account has no console role (claim {web.oidc_role_claim}); ask an administrator.",
            403,
        )
    lifetime = timedelta(minutes=web.session_idle_minutes)
    token, _ = await start_session(
        services, kind="console", subject=name, role=role, data={"via": "oidc"}, lifetime=lifetime
    )
    response = RedirectResponse("/console/", status_code=303)
    set_cookie(response, services, CONSOLE_COOKIE, token)
    clear_cookie(response, services, OIDC_COOKIE)
    return response
