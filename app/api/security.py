"""Bearer-token authentication and scope authorization for the admin endpoints.

Tokens: ``api.admin_token`` (name ``admin``, every scope) and each of ``security.admin_tokens``
(a name and its scopes). A placeholder value (``dev-admin-token``, ``change-me``...) never
authenticates, whatever the environment: ``claimbridge serve`` generates a random token in
development instead. Every configured token is compared, in constant time, on every request.

Scopes, by route (:func:`required_scope`): reads need ``claims:read``, writes ``claims:write``; the
operator surface (dead letters with their raw payloads, dead inbox rows and deliveries,
subscriptions, gaps, quarantined files) needs ``admin``. ``admin`` implies the other two.

Wrong tokens count against the caller's address (:mod:`app.api.throttle`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from app.api.outcomes import OutcomeError
from app.api.throttle import check_throttle, record_failure
from app.intake.auth import bearer_token
from app.services import services_of
from app.settings import PLACEHOLDER_SECRETS, AdminScope, Settings

#: Routes open without a credential (every other route answers 401 without one; a test enumerates
#: them all): probes, public documents, the SMART launch redirects, the console's login (local and OIDC) and static
#: files, and the API description (not served in production). Exact paths, or prefixes ending in ``/``.
PUBLIC_PATHS: tuple[str, ...] = (
    "/",
    "/healthz",
    "/readyz",
    "/.well-known/",
    "/smart/launch",
    "/smart/callback",
    "/console/login",
    "/console/oidc/",  # single sign-on: start (redirect to the provider) and callback (state-bound code)
    "/static/",
    "/docs",
    "/docs/oauth2-redirect",
    "/openapi.json",
)

#: Path prefixes of the operator surface: scope ``admin`` for every method.
ADMIN_PATHS = (
    "/api/dead-letters",
    "/api/inbox",
    "/api/outbox",
    "/api/subscriptions",
    "/api/gaps",
    "/api/x12/quarantine",
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IMPLIED: dict[AdminScope, frozenset[AdminScope]] = {
    "admin": frozenset({"admin", "claims:read", "claims:write"}),
    "claims:write": frozenset({"claims:write", "claims:read"}),
    "claims:read": frozenset({"claims:read"}),
}


@dataclass(frozen=True)
class Caller:
    name: str
    scopes: frozenset[AdminScope]


def is_public(path: str) -> bool:
    return any(path == p or (p.endswith("/") and p != "/" and path.startswith(p)) for p in PUBLIC_PATHS)


def required_scope(method: str, path: str) -> AdminScope:
    if path.startswith(ADMIN_PATHS):
        return "admin"
    return "claims:read" if method.upper() in READ_METHODS else "claims:write"


def configured_tokens(settings: Settings) -> list[tuple[bytes, Caller]]:
    """Every usable admin token with its caller; placeholders are left out."""
    out = []
    main = settings.api.admin_token.get_secret_value()
    if main.strip().lower() not in PLACEHOLDER_SECRETS:
        out.append((main.encode(), Caller("admin", IMPLIED["admin"])))
    for extra in settings.security.admin_tokens:
        scopes = frozenset(s for scope in extra.scopes for s in IMPLIED[scope])
        out.append((extra.token.get_secret_value().encode(), Caller(extra.name, scopes)))
    return out


def authenticate_admin(settings: Settings, token: str) -> Caller | None:
    presented = token.encode()
    found = None
    for expected, caller in configured_tokens(settings):  # no early exit: every token is compared
        if hmac.compare_digest(presented, expected) and found is None:
            found = caller
    return found


def require_admin(request: Request) -> str:
    """FastAPI dependency: a valid admin token holding the route's scope, else 401/403.

    Returns the caller's name for audit (``X-Claimbridge-User`` when sent, else the token's name).
    """
    check_throttle(request)
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise OutcomeError(401, "admin endpoints need a valid bearer token", headers={"WWW-Authenticate": "Bearer"})
    caller = authenticate_admin(services_of(request).settings, token)
    if caller is None:
        record_failure(request)
        raise OutcomeError(401, "admin endpoints need a valid bearer token", headers={"WWW-Authenticate": "Bearer"})
    scope = required_scope(request.method, request.url.path)
    if scope not in caller.scopes:
        raise OutcomeError(403, f"token {caller.name!r} lacks scope {scope}")
    return request.headers.get("x-claimbridge-user", caller.name)[:100]
