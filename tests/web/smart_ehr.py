"""A test EHR for SMART App Launch: an authorization server built on authlib's server components
(``AuthorizationServer``, ``AuthorizationCodeGrant``, PKCE ``CodeChallenge``, OpenID Connect
``OpenIDCode``, ``RefreshTokenGrant``, RFC 7523 client assertions) plus a small FHIR endpoint, as a
Starlette app to run with uvicorn on a free port (see :mod:`tests.web.serve`).

- ``GET {base}/fhir/.well-known/smart-configuration``, ``GET {base}/auth/jwks``
- ``GET /auth/authorize``: the EHR's sign-in and consent page (name field, Allow / Deny buttons)
- ``POST /auth/authorize``: the decision; ``POST /auth/token``: code, refresh
- ``GET {base}/fhir/Patient/{id}``: needs a bearer token this server issued

``launch(patient, encounter)`` makes an EHR launch context; ``down = True`` makes every answer a 503.
Not part of the application: never import it from ``app/``.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, OAuth2Error
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

PRIVATE_KEY_JWT = JWTBearerClientAssertion.CLIENT_AUTH_METHOD


@dataclass
class Client(ClientMixin):
    client_id: str
    redirect_uris: list[str]
    auth_method: str = "none"  # none | client_secret_basic | client_assertion_jwt
    secret: str | None = None
    jwks: dict[str, Any] | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret is not None and hmac.compare_digest(self.secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class User:
    id: str
    fhir_user: str
    context: dict[str, Any] = field(default_factory=dict)  # patient / encounter of the launch


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: User
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return None

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None

    def get_code_challenge(self) -> str | None:
        return self.code_challenge

    def get_code_challenge_method(self) -> str | None:
        return self.code_challenge_method


class PlainServer(AuthorizationServer):
    """authlib's authorization server over :class:`StarletteRequest`: clients from ``clients``,
    issued tokens handed to ``on_token`` (the test servers' shared glue)."""

    def __init__(
        self, clients: dict[str, Client], on_token: Callable[[dict[str, Any], OAuth2Request], None] | None = None
    ) -> None:
        super().__init__()
        self.clients = clients
        self.on_token = on_token

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        if self.on_token is not None:
            self.on_token(token, request)

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body, status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


class StoredCodeGrant(grants.AuthorizationCodeGrant):
    """The code grant over a dict of :class:`Code` (``codes``, set by the subclass)."""

    codes: ClassVar[dict[str, Code]]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.codes[code] = Code(
            code,
            request.client.client_id,
            data["redirect_uri"],
            request.payload.scope,
            request.user,
            data.get("nonce"),
            data.get("code_challenge"),
            data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = self.codes.get(code)
        return found if found and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> Any:
        return authorization_code.user


class SignedIdToken(OpenIDCode):
    """OpenID Connect id_tokens signed RS256 with ``key`` (header ``kid``), ``iss`` from ``issuer()``."""

    def __init__(self, key: Any, kid: str, issuer: Callable[[], str], *, require_nonce: bool) -> None:
        super().__init__(require_nonce=require_nonce)
        self.key, self.kid, self.issuer = key, kid, issuer

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False

    def resolve_client_private_key(self, client: Client) -> Any:
        return self.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.kid}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self.issuer(), "aud": [client.client_id], "exp": int(time.time()) + 300}


@dataclass
class IssuedToken:
    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    user: User
    expires_at: float
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - time.time())

    def is_expired(self) -> bool:
        return False  # refresh tokens do not expire here

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> User:
        return self.user

    def get_client(self) -> Client:
        raise NotImplementedError


class StarletteRequest(OAuth2Request):
    """authlib's request model over a Starlette request already read (query + form)."""

    def __init__(self, method: str, url: str, headers: Any, query: dict[str, str], form: dict[str, str]) -> None:
        # authlib refuses plain-http URIs; the test EHR runs on http://127.0.0.1 only
        super().__init__(method, url.replace("http://", "https://", 1), headers=headers)
        self._query, self._form = query, form
        self.payload = BasicOAuth2Payload({**query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form


class SmartEhr:
    """State and app of one test EHR (base URL known once it is served)."""

    def __init__(self, *, token_lifetime: int = 3600) -> None:
        self.base = "http://127.0.0.1:0"
        self.down = False
        self.clients: dict[str, Client] = {}
        self.users: dict[str, User] = {}
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.launches: dict[str, dict[str, Any]] = {}
        self.patients: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": "ehr-id-1", "use": "sig", "alg": "RS256"})
        self.token_lifetime = token_lifetime
        self.server = self._authorization_server()
        self.app = Starlette(
            routes=[
                Route("/fhir/.well-known/smart-configuration", self.smart_configuration),
                Route("/auth/jwks", self.jwks),
                Route("/auth/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/auth/token", self.token, methods=["POST"]),
                Route("/fhir/Patient/{pid}", self.patient),
            ]
        )

    @property
    def iss(self) -> str:
        return f"{self.base}/fhir"

    # --- set-up -----------------------------------------------------------------------------------

    def add_client(self, client: Client) -> None:
        self.clients[client.client_id] = client

    def add_user(self, username: str, fhir_user: str) -> None:
        self.users[username] = User(username, fhir_user)

    def launch(self, *, patient: str, encounter: str) -> str:
        launch_id = secrets.token_urlsafe(12)
        self.launches[launch_id] = {"patient": patient, "encounter": encounter}
        return launch_id

    # --- authlib wiring ---------------------------------------------------------------------------

    def _authorization_server(self) -> AuthorizationServer:
        ehr = self

        def issued(token: dict[str, Any], request: OAuth2Request) -> None:
            ehr.tokens[token["access_token"]] = IssuedToken(
                token["access_token"],
                token.get("refresh_token"),
                request.client.client_id,
                token.get("scope", ""),
                request.user,
                time.time() + int(token.get("expires_in", 0)),
            )

        class CodeGrant(StoredCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none", "client_secret_basic", PRIVATE_KEY_JWT]
            codes = ehr.codes

        class RefreshGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none", "client_secret_basic", PRIVATE_KEY_JWT]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
                return next((t for t in ehr.tokens.values() if t.refresh_token == refresh_token), None)

            def authenticate_user(self, refresh_token: IssuedToken) -> User:
                return refresh_token.user

            def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
                refresh_token.revoked = True

        class IdToken(SignedIdToken):
            def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
                return {"sub": user.id, "fhirUser": user.fhir_user}

        class ClientAssertion(JWTBearerClientAssertion):
            def validate_jti(self, claims: Any, jti: str) -> bool:
                return True

            def resolve_client_public_key(self, client: Client) -> KeySet:
                return KeySet.import_key_set(client.jwks or {"keys": []})

            def get_audiences(self) -> list[str]:
                return [f"{ehr.base}/auth/token"]

            def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
                try:  # SMART asymmetric client auth uses RS384 / ES384 (not in joserfc's default list)
                    token = jwt.decode(assertion, resolve_key, algorithms=["RS384", "ES384", "RS256", "ES256"])
                except JoseError as exc:
                    raise InvalidClientError(description=exc.description) from exc
                self.verify_claims(token.claims)
                return token.claims

        server = PlainServer(self.clients, issued)
        bearer = BearerTokenGenerator(
            lambda **_: secrets.token_urlsafe(24),
            lambda **_: secrets.token_urlsafe(24),
            lambda client, grant_type: self.token_lifetime,
        )

        def generate(**kwargs: Any) -> dict[str, Any]:
            token: dict[str, Any] = bearer(**kwargs)
            user = kwargs.get("user")
            if isinstance(user, User):
                token.update({k: v for k, v in user.context.items() if v})
            return token

        server.register_token_generator("default", generate)
        server.register_client_auth_method(PRIVATE_KEY_JWT, ClientAssertion())
        server.register_grant(
            CodeGrant,
            [CodeChallenge(required=True), IdToken(ehr.signing_key, "ehr-id-1", lambda: ehr.iss, require_nonce=True)],
        )
        server.register_grant(RefreshGrant)
        return server

    # --- routes -----------------------------------------------------------------------------------

    def _unavailable(self) -> Response | None:
        return JSONResponse({"error": "unavailable"}, status_code=503) if self.down else None

    async def _read(self, request: Request) -> StarletteRequest:
        form = dict(parse_qsl((await request.body()).decode())) if request.method == "POST" else {}
        return StarletteRequest(request.method, str(request.url), request.headers, dict(request.query_params), form)

    async def smart_configuration(self, request: Request) -> Response:
        return self._unavailable() or JSONResponse(
            {
                "issuer": self.iss,
                "jwks_uri": f"{self.base}/auth/jwks",
                "authorization_endpoint": f"{self.base}/auth/authorize",
                "token_endpoint": f"{self.base}/auth/token",
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "scopes_supported": [
                    "openid",
                    "fhirUser",
                    "launch",
                    "launch/patient",
                    "patient/*.rs",
                    "offline_access",
                ],
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "capabilities": [
                    "launch-ehr",
                    "launch-standalone",
                    "client-public",
                    "client-confidential-symmetric",
                    "client-confidential-asymmetric",
                    "sso-openid-connect",
                    "context-ehr-patient",
                    "context-ehr-encounter",
                    "permission-v2",
                ],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return self._unavailable() or JSONResponse({"keys": [self.signing_key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        if (down := self._unavailable()) is not None:
            return down
        req = await self._read(request)
        data = req.payload.data
        if data.get("aud") != self.iss:
            return HTMLResponse("<p>aud must be this EHR's FHIR base URL</p>", status_code=400)
        if request.method == "GET":
            try:
                self.server.get_consent_grant(req)
            except OAuth2Error as exc:
                return HTMLResponse(f"<p>{escape(exc.error)}: {escape(exc.description or '')}</p>", status_code=400)
            return HTMLResponse(self._sign_in_page(data))
        user = self.users.get(data.get("username", ""))
        if data.get("decision") != "allow" or user is None:
            grant = self.server.get_consent_grant(req)
            return self.server.create_authorization_response(req, grant_user=None, grant=grant)
        context = self.launches.get(data.get("launch", ""), {})
        if "launch/patient" in data.get("scope", "").split() and not context:
            context = {"patient": next(iter(self.patients), None)}  # standalone: the user's chosen patient
        signed_in = User(user.id, user.fhir_user, context)
        grant = self.server.get_consent_grant(req, end_user=signed_in)
        return self.server.create_authorization_response(req, grant_user=signed_in, grant=grant)

    def _sign_in_page(self, data: dict[str, str]) -> str:
        hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in data.items())
        return (
            '<!doctype html><html lang="en"><head><title>Test EHR sign-in</title>'
            '<link rel="icon" href="data:,"></head><body><main>'
            '<h1>Test EHR</h1><form method="post" action="/auth/authorize">'
            f'{hidden}<label for="username">User name</label> <input id="username" name="username">'
            '<button name="decision" value="allow">Allow</button>'
            '<button name="decision" value="deny">Deny</button></form></main></body></html>'
        )

    async def token(self, request: Request) -> Response:
        if (down := self._unavailable()) is not None:
            return down
        req = await self._read(request)
        self.token_requests.append(dict(req.form))
        answer = self.server.create_token_response(req)
        return answer

    async def patient(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        token = self.tokens.get(auth.removeprefix("Bearer "))
        if token is None or token.revoked or token.expires_at < time.time():
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=401)
        found = self.patients.get(request.path_params["pid"])
        if found is None:
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=404)
        return JSONResponse(found)
