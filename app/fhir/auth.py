"""SMART Backend Services authorization for calls to an EHR (client_credentials + private_key_jwt).

:class:`SmartBackendAuth` is an ``httpx.Auth`` flow, installed on the EHR's ``httpx.AsyncClient``:

1. on first use it discovers the token endpoint from ``{base}/.well-known/smart-configuration``
   (it must be on the FHIR base's origin, or a host the ``outbound`` policy allows: the signed
   assertion is sent there)
   (unless configured) and checks the server accepts ``private_key_jwt`` with our algorithm;
2. it asks the token endpoint for an access token with a signed client assertion (authlib's RFC 7523
   signer: header ``alg``/``kid``/``typ=JWT``; claims ``iss`` = ``sub`` = client id, ``aud`` = token
   endpoint, ``exp`` <= 5 minutes, a unique ``jti``) and the configured, narrow ``system/`` scopes;
3. the token is cached until ``refresh_margin`` seconds before it expires (one refresh at a time,
   concurrent requests wait for it);
4. a 401 from the FHIR API drops that token and re-authorizes exactly once; a second 401 is handed
   back to the caller (the client turns it into :class:`~app.fhir.errors.AuthError`);
5. the token response's ``scope`` is compared with what was asked (:mod:`app.fhir.scopes`): the
   :class:`Grant` says what is missing, and a narrower grant is logged once (one warning naming the
   missing scopes) each time what is missing changes. :meth:`SmartBackendAuth.authorize` gets a
   token outside any request, so a caller can check the grant before it writes.

Token endpoint refusals raise :class:`~app.fhir.errors.AuthError`; its 5xx/429 raise the temporary
errors, so the FHIR client's retry policy applies to them too. Tokens never appear in logs or errors.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from authlib.oauth2.rfc7523 import private_key_jwt_sign

from app.fhir.errors import AuthError, InvalidFhirResponse, error_for_status
from app.fhir.keys import SigningKey
from app.fhir.scopes import missing_scopes
from app.http_policy import Verdict, classify, retry_after_header
from app.ssrf import OutboundPolicy, UrlRefused, same_origin

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300
log = structlog.get_logger(__name__)
#: Resource types the claim mappings read; narrow further per deployment.
DEFAULT_READ_TYPES: tuple[str, ...] = (
    "Encounter",
    "Patient",
    "Coverage",
    "ServiceRequest",
    "MedicationRequest",
    "ChargeItem",
    "Procedure",
    "Condition",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
)


def scopes_for(resource_types: Iterable[str], *, access: str = "rs") -> tuple[str, ...]:
    """SMART v2 system scopes, e.g. ``scopes_for(["Encounter"])`` -> ``("system/Encounter.rs",)``."""
    if not access or any(letter not in "cruds" for letter in access):
        raise ValueError(f"invalid SMART v2 access letters {access!r}")
    ordered = "".join(letter for letter in "cruds" if letter in access)
    return tuple(f"system/{resource_type}.{ordered}" for resource_type in dict.fromkeys(resource_types))


SAME_ORIGIN_ONLY = OutboundPolicy()


@dataclass(frozen=True)
class BackendServicesConfig:
    """Who we are to one EHR, and what we may ask it for."""

    client_id: str
    fhir_base: str
    key: SigningKey
    scopes: Sequence[str] = scopes_for(DEFAULT_READ_TYPES)
    token_endpoint: str | None = None
    #: Where a discovered ``token_endpoint`` may point besides the FHIR base's own origin (SSRF guard).
    outbound: OutboundPolicy = SAME_ORIGIN_ONLY
    assertion_lifetime: int = MAX_ASSERTION_LIFETIME
    refresh_margin: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.assertion_lifetime <= MAX_ASSERTION_LIFETIME:
            raise ValueError("assertion_lifetime must be within (0, 300] seconds")


@dataclass
class _Token:
    value: str
    expires_at: float


@dataclass(frozen=True)
class Grant:
    """What the token endpoint granted (``None``: it did not say, so what was asked) and what is missing."""

    requested: tuple[str, ...]
    granted: str | None
    missing: tuple[str, ...]

    def lacks(self, needed: Iterable[str]) -> tuple[str, ...]:
        """The scopes of ``needed`` this grant does not cover."""
        return missing_scopes(tuple(needed), self.granted if self.granted is not None else " ".join(self.requested))


class SmartBackendAuth(httpx.Auth):
    """``httpx.Auth`` flow adding a cached SMART backend access token to every request."""

    def __init__(self, config: BackendServicesConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._token_url = config.token_endpoint
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self.token_requests = 0
        self.grant: Grant | None = None

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise RuntimeError("SmartBackendAuth is async only; use it with httpx.AsyncClient")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        stale: str | None = None
        for attempt in (1, 2):
            token = self._usable_token(stale)
            if token is None:
                async with self._lock:
                    token = self._usable_token(stale)
                    if token is None:
                        steps = self._token_steps()
                        outgoing = next(steps)
                        while True:
                            answer = yield outgoing
                            await answer.aread()
                            try:
                                outgoing = steps.send(answer)
                            except StopIteration as done:
                                token = done.value
                                break
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if classify(response.status_code, reauthorized=attempt == 2) is not Verdict.REAUTHORIZE:
                return  # the client maps a second 401 (fatal) and every other status
            await response.aread()
            stale = token

    async def authorize(self, http: httpx.AsyncClient) -> Grant:
        """Make sure a token is held (asking for one through ``http`` if not) and say what it grants."""
        async with self._lock:
            if self._usable_token(None) is None or self.grant is None:
                steps = self._token_steps()
                outgoing = next(steps)
                while True:
                    answer = await http.send(outgoing, auth=None)
                    try:
                        outgoing = steps.send(answer)
                    except StopIteration:
                        break
        assert self.grant is not None
        return self.grant

    def _token_steps(self) -> Generator[httpx.Request, httpx.Response, str]:
        """Discovery (once) and the token request, as requests to send; returns the new token."""
        if self._token_url is None:
            discovery = yield self._discovery_request()
            self._token_url = self._read_discovery(discovery)
        answer = yield self._token_request(self._token_url)
        return self._store_token(answer)

    def client_assertion(self, token_url: str) -> str:
        """A signed private_key_jwt assertion for ``token_url`` (fresh ``jti`` each call)."""
        now = int(self._clock())
        key = self.config.key
        return str(
            private_key_jwt_sign(
                key.key,
                client_id=self.config.client_id,
                token_endpoint=token_url,
                alg=key.alg,
                claims={"jti": uuid.uuid4().hex},
                header={"kid": key.kid, "typ": "JWT"},
                issued_at=now,
                expires_at=now + self.config.assertion_lifetime,
            )
        )

    def _usable_token(self, stale: str | None) -> str | None:
        token = self._token
        if token is None or token.value == stale:
            return None
        if self._clock() >= token.expires_at - self.config.refresh_margin:
            return None
        return token.value

    def _discovery_request(self) -> httpx.Request:
        url = self.config.fhir_base.rstrip("/") + "/.well-known/smart-configuration"
        return httpx.Request("GET", url, headers={"Accept": "application/json"})

    def _read_discovery(self, response: httpx.Response) -> str:
        body = _json_or_raise(response, where="GET .well-known/smart-configuration")
        token_url = body.get("token_endpoint")
        if not isinstance(token_url, str) or not token_url:
            raise InvalidFhirResponse("smart-configuration has no token_endpoint")
        if not same_origin(token_url, self.config.fhir_base):  # the signed assertion goes where it says
            try:
                self.config.outbound.check(token_url, what="token_endpoint")
            except UrlRefused as exc:
                raise AuthError(f"smart-configuration token_endpoint is not on the EHR's origin: {exc}") from None
        methods = body.get("token_endpoint_auth_methods_supported")
        if isinstance(methods, list) and "private_key_jwt" not in methods:
            raise AuthError("EHR does not accept private_key_jwt client authentication")
        algs = body.get("token_endpoint_auth_signing_alg_values_supported")
        if isinstance(algs, list) and self.config.key.alg not in algs:
            raise AuthError(f"EHR does not accept {self.config.key.alg} client assertions (offers {algs})")
        return token_url

    def _token_request(self, token_url: str) -> httpx.Request:
        self.token_requests += 1
        form = {
            "grant_type": "client_credentials",
            "scope": " ".join(self.config.scopes),
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.client_assertion(token_url),
        }
        return httpx.Request("POST", token_url, data=form, headers={"Accept": "application/json"})

    def _store_token(self, response: httpx.Response) -> str:
        body = _json_or_raise(response, where="POST token endpoint")
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise InvalidFhirResponse("token response has no access_token")
        if str(body.get("token_type", "bearer")).lower() != "bearer":
            raise InvalidFhirResponse(f"token_type {body.get('token_type')!r} is not bearer")
        expires_in = body.get("expires_in", 300)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        self._token = _Token(value=value, expires_at=self._clock() + lifetime)
        self._note_grant(body.get("scope"))
        return value

    def _note_grant(self, scope: Any) -> None:
        requested = tuple(self.config.scopes)
        granted = scope if isinstance(scope, str) else None
        missing = missing_scopes(requested, granted)
        previous = self.grant.missing if self.grant is not None else ()
        self.grant = Grant(requested=requested, granted=granted, missing=missing)
        if missing and missing != previous:
            log.warning("smart.scopes_narrower", fhir_base=self.config.fhir_base, missing=list(missing))


def _json_or_raise(response: httpx.Response, *, where: str) -> dict[str, Any]:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        if isinstance(body, dict) and "error" in body:
            detail = f"{body['error']}: {body.get('error_description', '')}".rstrip(": ")
            if response.status_code in (400, 401, 403):
                raise AuthError(f"{where} -> HTTP {response.status_code}: {detail}", status=response.status_code)
        retry_after = retry_after_header(response.headers)
        raise error_for_status(response.status_code, body=body, where=where, retry_after=retry_after)
    if not isinstance(body, dict):
        raise InvalidFhirResponse(f"{where} -> HTTP {response.status_code}: not a JSON object")
    return body
