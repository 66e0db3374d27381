"""A test OpenID Connect provider for the console's single sign-on, built on authlib's server components
(``AuthorizationServer``, ``AuthorizationCodeGrant``, PKCE ``CodeChallenge``, ``OpenIDCode``), as a
Starlette app to run with uvicorn on a free port (see :mod:`tests.web.serve`).

- ``GET {issuer}/.well-known/openid-configuration``, ``GET /jwks``
- ``GET /authorize``: a sign-in page (user name, Allow / Deny); ``POST /authorize``: the decision
- ``POST /token``: the code exchange (confidential client, ``client_secret_basic``)

Each user has the claims its id_token carries (``preferred_username``, a role claim ...).
Not part of the application: never import it from ``app/``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from html import escape
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.web.smart_ehr import Client, Code, PlainServer, SignedIdToken, StarletteRequest, StoredCodeGrant


@dataclass
class Person:
    id: str
    claims: dict[str, Any] = field(default_factory=dict)

    def get_user_id(self) -> str:
        return self.id


class OidcProvider:
    def __init__(self) -> None:
        self.base = "http://127.0.0.1:0"
        self.down = False
        self.clients: dict[str, Client] = {}
        self.people: dict[str, Person] = {}
        self.codes: dict[str, Code] = {}
        self.token_requests: list[dict[str, str]] = []
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": "idp-1", "use": "sig", "alg": "RS256"})
        self.server = self._authorization_server()
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.configuration),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    @property
    def issuer(self) -> str:
        return self.base

    def add_client(self, client: Client) -> None:
        self.clients[client.client_id] = client

    def add_person(self, username: str, **claims: Any) -> None:
        self.people[username] = Person(username, claims)

    def _authorization_server(self) -> AuthorizationServer:
        idp = self

        class CodeGrant(StoredCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic"]
            codes = idp.codes

        class IdToken(SignedIdToken):
            def generate_user_info(self, user: Person, scope: str) -> dict[str, Any]:
                return {"sub": user.id, **user.claims}

        server = PlainServer(idp.clients)
        server.register_token_generator(
            "default",
            BearerTokenGenerator(lambda **_: secrets.token_urlsafe(24), None, lambda client, grant_type: 600),
        )
        server.register_grant(
            CodeGrant,
            [CodeChallenge(required=True), IdToken(idp.signing_key, "idp-1", lambda: idp.issuer, require_nonce=True)],
        )
        return server

    def _unavailable(self) -> Response | None:
        return JSONResponse({"error": "unavailable"}, status_code=503) if self.down else None

    async def _read(self, request: Request) -> StarletteRequest:
        form = dict(parse_qsl((await request.body()).decode())) if request.method == "POST" else {}
        return StarletteRequest(request.method, str(request.url), request.headers, dict(request.query_params), form)

    async def configuration(self, request: Request) -> Response:
        return self._unavailable() or JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token",
                "jwks_uri": f"{self.base}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return self._unavailable() or JSONResponse({"keys": [self.signing_key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        if (down := self._unavailable()) is not None:
            return down
        req = await self._read(request)
        data = req.payload.data
        if request.method == "GET":
            try:
                self.server.get_consent_grant(req)
            except OAuth2Error as exc:
                return HTMLResponse(f"<p>{escape(exc.error)}: {escape(exc.description or '')}</p>", status_code=400)
            return HTMLResponse(self._sign_in_page(data))
        person = self.people.get(data.get("username", ""))
        if data.get("decision") != "allow" or person is None:
            grant = self.server.get_consent_grant(req)
            return self.server.create_authorization_response(req, grant_user=None, grant=grant)
        grant = self.server.get_consent_grant(req, end_user=person)
        return self.server.create_authorization_response(req, grant_user=person, grant=grant)

    def _sign_in_page(self, data: dict[str, str]) -> str:
        hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in data.items())
        return (
            '<!doctype html><html lang="en"><head><title>Test identity provider</title>'
            '<link rel="icon" href="data:,"></head><body><main>'
            '<h1>Test identity provider</h1><form method="post" action="/authorize">'
            f'{hidden}<label for="username">User name</label> <input id="username" name="username">'
            '<button name="decision" value="allow">Allow</button>'
            '<button name="decision" value="deny">Deny</button></form></main></body></html>'
        )

    async def token(self, request: Request) -> Response:
        if (down := self._unavailable()) is not None:
            return down
        req = await self._read(request)
        self.token_requests.append(dict(req.form))
        return self.server.create_token_response(req)
