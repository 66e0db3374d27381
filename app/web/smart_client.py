"""The SMART App Launch 2.x client side: discovery, the authorize URL (PKCE S256), the code exchange,
refresh, and id_token verification. HTTP through the shared policy (:func:`app.http_policy.classify`);
every failure is a :class:`SmartError` carrying the page to show (the routes are in :mod:`app.web.smart`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.db.web_repo import SmartAppRecord
from app.fhir.keys import KeyFileError, load_signing_key
from app.http_policy import Verdict, classify
from app.web.render import WebError

ID_TOKEN_ALGS = ("RS256", "RS384", "ES256", "ES384")
#: tolerated difference between the EHR's clock and ours (iat, exp)
CLOCK_SKEW_SECONDS = 120


class SmartError(WebError):
    pass


def ehr_down(iss: str, what: str) -> SmartError:
    return SmartError(
        502,
        "The EHR is not answering",
        f"claimbridge could not reach the EHR at {iss} ({what}). Try again in a moment, or ask your EHR administrator.",
    )


@dataclass(frozen=True)
class SmartConfiguration:
    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None
    jwks_uri: str | None
    token_auth_methods: tuple[str, ...]


def pkce_pair() -> tuple[str, str]:
    """``(code_verifier, S256 code_challenge)``; the verifier carries 384 random bits."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def new_state() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits


async def _get_json(http: httpx.AsyncClient, url: str, *, iss: str, what: str) -> dict[str, Any]:
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ehr_down(iss, f"{what}: {type(exc).__name__}") from exc
    if classify(response.status_code) is not Verdict.OK:
        raise ehr_down(iss, f"{what} answered {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise ehr_down(iss, f"{what} is not JSON") from exc
    if not isinstance(data, dict):
        raise ehr_down(iss, f"{what} is not a JSON object")
    return data


async def discover(http: httpx.AsyncClient, iss: str) -> SmartConfiguration:
    data = await _get_json(http, f"{iss}/.well-known/smart-configuration", iss=iss, what="smart-configuration")
    authorize, token = data.get("authorization_endpoint"), data.get("token_endpoint")
    if not isinstance(authorize, str) or not isinstance(token, str):
        raise ehr_down(iss, "smart-configuration lacks authorization_endpoint or token_endpoint")
    methods = data.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise SmartError(502, "The EHR cannot launch this app", "The EHR does not support PKCE S256.")
    issuer, jwks = data.get("issuer"), data.get("jwks_uri")
    auth_methods = data.get("token_endpoint_auth_methods_supported") or []
    return SmartConfiguration(
        authorize,
        token,
        issuer if isinstance(issuer, str) else None,
        jwks if isinstance(jwks, str) else None,
        tuple(str(m) for m in auth_methods),
    )


def authorize_url(
    config: SmartConfiguration,
    app: SmartAppRecord,
    *,
    iss: str,
    redirect_uri: str,
    state: str,
    nonce: str,
    challenge: str,
    launch: str | None,
) -> str:
    scopes = app.scopes.split()
    if launch is None:  # standalone: the EHR asks the user for the patient instead of a launch context
        scopes = ["launch/patient" if s == "launch" else s for s in scopes]
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "aud": iss,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if launch is not None:
        params["launch"] = launch
    sep = "&" if "?" in config.authorization_endpoint else "?"
    return f"{config.authorization_endpoint}{sep}{urlencode(params)}"


def _client_auth(app: SmartAppRecord, token_url: str, form: dict[str, str]) -> httpx.BasicAuth | None:
    """Adds the client's credentials: none (public), HTTP Basic (confidential) or a private_key_jwt assertion."""
    if app.key_path:
        try:
            key = load_signing_key(Path(app.key_path))
        except (OSError, KeyFileError) as exc:
            raise SmartError(500, "App misconfigured", "The SMART app's signing key cannot be read.") from exc
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = str(
            private_key_jwt_sign(
                key.key,
                client_id=app.client_id,
                token_endpoint=token_url,
                alg=key.alg,
                claims={"jti": uuid.uuid4().hex},
                header={"kid": key.kid, "typ": "JWT"},
            )
        )
        return None
    if app.client_secret:
        return httpx.BasicAuth(app.client_id, app.client_secret)
    form["client_id"] = app.client_id
    return None


async def token_request(
    http: httpx.AsyncClient, app: SmartAppRecord, token_url: str, form: dict[str, str], *, iss: str
) -> dict[str, Any]:
    auth = _client_auth(app, token_url, form)
    try:
        response = await http.post(token_url, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
    except httpx.HTTPError as exc:
        raise ehr_down(iss, f"token endpoint: {type(exc).__name__}") from exc
    verdict = classify(response.status_code)
    if verdict is Verdict.TEMPORARY:
        raise ehr_down(iss, f"token endpoint answered {response.status_code}")
    if verdict is not Verdict.OK:
        raise SmartError(
            400,
            "Sign-in refused by the EHR",
            "The EHR refused to complete the sign-in (the code may have expired or been used). Launch the app again.",
        )
    try:
        data = response.json()
    except ValueError as exc:
        raise ehr_down(iss, "token answer is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise ehr_down(iss, "token answer has no access_token")
    return data


async def verify_id_token(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    id_token: str,
    *,
    iss: str,
    client_id: str,
    nonce: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The id_token's claims once its signature (issuer JWKS), ``iss``, ``aud``, ``exp`` and nonce check out."""
    issuer = config.issuer or iss
    jwks_uri = config.jwks_uri
    if jwks_uri is None:
        oidc = await _get_json(
            http, f"{issuer.rstrip('/')}/.well-known/openid-configuration", iss=iss, what="openid-configuration"
        )
        jwks_uri = oidc.get("jwks_uri") if isinstance(oidc.get("jwks_uri"), str) else None
    if jwks_uri is None:
        raise ehr_down(iss, "no jwks_uri to check the id_token with")
    jwks = await _get_json(http, jwks_uri, iss=iss, what="JWKS")
    refused = SmartError(
        400, "Sign-in could not be verified", "The EHR's identity token did not check out. Launch the app again."
    )
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=list(ID_TOKEN_ALGS))  # type: ignore[arg-type]
        registry = jwt.JWTClaimsRegistry(
            now=int(now if now is not None else time.time()),
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise refused from exc
    return dict(token.claims)
