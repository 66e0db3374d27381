"""The HTTP clearinghouse API transport: 837P files out, response files in, OAuth2 client credentials.

The API it speaks (``clearinghouse.api`` settings; paths are configurable)::

    POST {base_url}{submit_path}            body: the 837P (application/edi-x12)
                                            headers: Idempotency-Key (the outbox key), X-Filename
    GET  {base_url}{responses_path}         -> [{"id": "...", "name": "..."}]   files waiting for us
    GET  {base_url}{responses_path}/{id}    -> the file's bytes (999, 277CA, 835)
    DELETE {base_url}{responses_path}/{id}  acknowledge: we stored it

A file the worker quarantined (it kept failing) is left at the API, unacknowledged, and no longer
downloaded: ``pending`` skips its id until an operator releases it.

Tokens: the client-credentials grant (RFC 6749 §4.4) with authlib's client authentication
(``client_secret_basic`` or ``client_secret_post``) and token bookkeeping, over our own ``httpx``
client; a token is reused until 30 seconds before it expires, and a 401 drops it and re-authorizes
exactly once.

Errors (the outbox's branch of the tree, :mod:`app.adapters.base`), by the one HTTP policy
(:func:`app.http_policy.classify`): connection failures, timeouts, 408, 425, 429 and 5xx are
:class:`TemporaryDeliveryError` (with the server's ``Retry-After``, seconds or HTTP date), so the
outbox retries them with the destination's policy and they count toward its circuit breaker; any
other refusal (4xx, a token endpoint that refuses our credentials, a second 401) is
:class:`FatalDeliveryError`.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any
from urllib.parse import quote

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from app.adapters.base import FatalDeliveryError, TemporaryDeliveryError
from app.adapters.x12_folder import InboundItem
from app.http_policy import Verdict, classify, retry_after_header
from app.settings import ClearinghouseApiSettings

TOKEN_LEEWAY_SECONDS = 30
X12_MEDIA_TYPE = "application/edi-x12"


def check(response: httpx.Response, what: str) -> httpx.Response:
    verdict = classify(response.status_code, reauthorized=True)
    if verdict is Verdict.OK:
        return response
    message = f"{what}: HTTP {response.status_code}"
    if verdict is Verdict.TEMPORARY:
        raise TemporaryDeliveryError(message, retry_after=retry_after_header(response.headers))
    raise FatalDeliveryError(message)


class ClearinghouseApi:
    """One authorized HTTP client for the clearinghouse (shared by the adapter and the response source)."""

    def __init__(self, settings: ClearinghouseApiSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        if not settings.base_url or not settings.token_url or not settings.client_id:
            raise ValueError("clearinghouse.api needs base_url, token_url and client_id for the http adapter")
        self.settings = settings
        self._transport = transport
        self._client: httpx.Client | None = None  # opened on first use (start-up checks open nothing)
        self._auth = ClientAuth(settings.client_id, settings.client_secret.get_secret_value(), settings.auth_method)
        self._token: OAuth2Token | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.settings.timeout_seconds, transport=self._transport)
        return self._client

    def url(self, path: str) -> str:
        return self.settings.base_url.rstrip("/") + "/" + path.lstrip("/")

    def token(self) -> str:
        token = self._token
        if token is None or token.is_expired(leeway=TOKEN_LEEWAY_SECONDS):
            token = self._token = self._fetch_token()
        return str(token["access_token"])

    def _fetch_token(self) -> OAuth2Token:
        body = prepare_token_request("client_credentials", scope=self.settings.scope or None)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        url, headers, body = self._auth.prepare("POST", self.settings.token_url, headers, body)
        response = self._send("POST", url, "token endpoint", content=body, headers=headers)
        if response.status_code in (400, 401):
            raise FatalDeliveryError(f"token endpoint refused the client credentials (HTTP {response.status_code})")
        check(response, "token endpoint")
        data = response.json()
        if not isinstance(data, dict) or not data.get("access_token"):
            raise FatalDeliveryError("token endpoint answered without an access_token")
        return OAuth2Token.from_dict(data)

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise TemporaryDeliveryError(f"{what}: {type(exc).__name__}") from exc

    def call(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        """An authorized call; a 401 re-authorizes once."""
        headers = dict(kwargs.pop("headers", {}))
        for attempt in (1, 2):
            headers["Authorization"] = f"Bearer {self.token()}"
            response = self._send(method, self.url(path), what, headers=headers, **kwargs)
            verdict = classify(response.status_code, reauthorized=attempt == 2)
            if verdict is not Verdict.REAUTHORIZE:
                if response.status_code == 401:
                    raise FatalDeliveryError(f"{what}: HTTP 401 after re-authorizing")
                return check(response, what)
            self._token = None
        raise AssertionError("unreachable")


class ClearinghouseHttpAdapter:
    """Outbox destination ``clearinghouse`` with ``adapters.clearinghouse: http``."""

    def __init__(self, *, name: str, api: ClearinghouseApi) -> None:
        self.name = name
        self.api = api

    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        if kind != "837p" or not isinstance(payload.get("x12"), str):
            raise FatalDeliveryError(f"the clearinghouse API takes 837P files, not {kind!r} deliveries")
        headers = {"Content-Type": X12_MEDIA_TYPE, "Idempotency-Key": key, "X-Filename": str(payload.get("file_name"))}
        self.api.call("POST", self.api.settings.submit_path, "837P submission", content=payload["x12"], headers=headers)


class HttpResponseSource:
    """Response files waiting at the clearinghouse API; acknowledged (DELETE) once stored."""

    name = "http"

    def __init__(self, api: ClearinghouseApi) -> None:
        self.api = api

    def pending(self, skip: Set[str] = frozenset()) -> list[InboundItem]:
        """The files listed at the API, downloaded, except those whose id is in ``skip`` (quarantined)."""
        path = self.api.settings.responses_path
        listing = self.api.call("GET", path, "response listing", headers={"Accept": "application/json"}).json()
        items = []
        for entry in listing if isinstance(listing, list) else []:
            if isinstance(entry, dict) and str(entry.get("id", "")).strip():
                ident = quote(str(entry["id"]), safe="")
                if ident in skip:
                    continue
                body = self.api.call("GET", f"{path.rstrip('/')}/{ident}", "response download").content
                items.append(InboundItem(str(entry.get("name") or ident), body, ident))
        return items

    def finish(self, item: InboundItem) -> None:
        path = self.api.settings.responses_path
        self.api.call("DELETE", f"{path.rstrip('/')}/{item.handle}", "response acknowledgement")

    def quarantine(self, item: InboundItem) -> str:
        """Nothing moves at the API: the file stays unacknowledged, and its id is skipped from now on."""
        return item.handle

    def release(self, handle: str) -> None:
        """Nothing to do at the API: the released id is downloaded again at the next poll."""
