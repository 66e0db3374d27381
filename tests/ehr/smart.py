"""SMART Backend Services token endpoint of the test EHR (client_credentials + private_key_jwt).

The client assertion is checked the way SMART App Launch 2.x asks a server to: signature by a key of
the client's registered JWKS (joserfc), ``kid`` present and registered, ``typ`` JWT, ``iss`` = ``sub``
= a registered client id, ``aud`` = this token endpoint, ``exp`` in the future and at most 5 minutes
ahead, ``jti`` never seen before for that client (remembered until the assertion expires). Failures
answer ``401 {"error": "invalid_client"}``; a malformed request answers 400. Issued bearer tokens
are random and short-lived (``token_lifetime`` seconds on the server clock). ``grant`` (when set)
is the scope granted whatever was asked, the way an administrator narrows a client; :func:`permits`
says whether a token's scope allows a method on a resource type (SMART v2 letters, ``*`` types).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300
ALGORITHMS = ["RS384", "ES384"]


class TokenRefused(Exception):
    """The token request is refused; ``status`` and ``body`` are the OAuth error answer."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


@dataclass
class IssuedToken:
    client_id: str
    scope: str
    expires_at: float


@dataclass
class TokenIssuer:
    """Registered clients, seen assertion ids and the bearer tokens handed out."""

    token_url: str
    clock: Callable[[], float]
    token_lifetime: int = 300
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen_jti: dict[tuple[str, str], float] = field(default_factory=dict)
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    issued: int = 0
    grant: str | None = None
    asked: list[str] = field(default_factory=list)

    def register(self, client_id: str, jwks: Mapping[str, Any]) -> None:
        """Register a client's public JWKS (every key needs a ``kid``)."""
        keys = [dict(k) for k in jwks["keys"]]
        if any("kid" not in k or "d" in k for k in keys):
            raise ValueError("register public keys with a kid")
        self.clients[client_id] = {"keys": keys}

    def issue(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer a token request form, or raise :class:`TokenRefused`."""
        if form.get("grant_type") != "client_credentials":
            raise TokenRefused(400, "unsupported_grant_type", "only client_credentials is supported")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise TokenRefused(400, "invalid_request", "a jwt-bearer client_assertion is required")
        scope = form.get("scope", "")
        if not scope or any(not s.startswith("system/") for s in scope.split()):
            raise TokenRefused(400, "invalid_scope", "backend services need system/ scopes")
        client_id = self.verify_assertion(form["client_assertion"])
        self.asked.append(scope)
        scope = self.grant if self.grant is not None else scope
        token = secrets.token_urlsafe(24)
        self.tokens[token] = IssuedToken(client_id, scope, self.clock() + self.token_lifetime)
        self.issued += 1
        return {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime, "scope": scope}

    def verify_assertion(self, assertion: str) -> str:
        """The client id of a valid assertion; every failure is ``invalid_client``."""
        header = _unverified_header(assertion)
        kid = header.get("kid")
        if not kid:
            raise _invalid("assertion header has no kid")
        if header.get("typ") != "JWT" or header.get("alg") not in ALGORITHMS:
            raise _invalid("assertion header needs typ JWT and alg RS384 or ES384")
        claims = _unverified_claims(assertion)
        client_id = claims.get("iss")
        jwks = self.clients.get(str(client_id))
        if jwks is None or claims.get("sub") != client_id:
            raise _invalid("unknown client, or sub differs from iss")
        keys = [k for k in jwks["keys"] if k["kid"] == kid]
        if len(keys) != 1:
            raise _invalid("kid is not registered for this client")
        try:
            verified = jwt.decode(assertion, KeySet.import_key_set({"keys": keys}), algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise _invalid(f"signature check failed ({type(exc).__name__})") from exc
        self._check_claims(verified.claims, client_id=str(client_id))
        return str(client_id)

    def bearer(self, token: str) -> IssuedToken | None:
        """The live token, or None if unknown or expired."""
        issued = self.tokens.get(token)
        if issued is None or self.clock() >= issued.expires_at:
            return None
        return issued

    def _check_claims(self, claims: dict[str, Any], *, client_id: str) -> None:
        now = self.clock()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.token_url not in audiences:
            raise _invalid("aud is not this token endpoint")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= now:
            raise _invalid("assertion expired or has no exp")
        if exp - now > MAX_ASSERTION_LIFETIME:
            raise _invalid("exp is more than 5 minutes ahead")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _invalid("assertion has no jti")
        self.seen_jti = {k: v for k, v in self.seen_jti.items() if v > now}
        if (client_id, jti) in self.seen_jti:
            raise _invalid("jti was already used")
        self.seen_jti[(client_id, jti)] = float(exp)


METHOD_LETTERS = {"GET": "rs", "POST": "c", "PUT": "u", "DELETE": "d"}


def permits(scope: str, method: str, resource_type: str) -> bool:
    """True when a ``system/`` scope of ``scope`` allows ``method`` on ``resource_type``."""
    needed = METHOD_LETTERS.get(method, "")
    for granted in scope.split():
        context, _, rest = granted.partition("/")
        rtype, _, letters = rest.partition(".")
        if context == "system" and rtype in (resource_type, "*") and any(ch in letters for ch in needed):
            return True
    return not needed


def _invalid(description: str) -> TokenRefused:
    return TokenRefused(401, "invalid_client", description)


def _segment(assertion: str, index: int) -> dict[str, Any]:
    try:
        part = assertion.split(".")[index]
        decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError) as exc:
        raise _invalid("client_assertion is not a compact JWT") from exc
    if not isinstance(decoded, dict):
        raise _invalid("client_assertion is not a compact JWT")
    return decoded


def _unverified_header(assertion: str) -> dict[str, Any]:
    return _segment(assertion, 0)


def _unverified_claims(assertion: str) -> dict[str, Any]:
    return _segment(assertion, 1)
