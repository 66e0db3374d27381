"""X12 270/271 through the clearinghouse: the real-time channel of the clearinghouse API.

A payer whose profile says ``eligibility: {adapter: x12}`` (and no ``x12_url``) is asked through the
clearinghouse the 837P batches go to. Batches travel by the configured transport
(``adapters.clearinghouse``: ``folder`` or ``http``); an eligibility inquiry must be answered while
the patient is at the desk, so only the HTTP API can carry it (with a folder transport, the
scheduled day-before checks go as batch 270 files instead: :mod:`app.eligibility.batch`)::

    POST {clearinghouse.api.base_url}{clearinghouse.api.eligibility_path}
         body: the 270 (application/edi-x12), headers: Authorization (the API's OAuth2 token),
         Idempotency-Key (the inquiry's trace)
    -> 200, body: the 271

The interchange carries the identities of ``config/clearinghouse.yaml`` (ISA05/06 us, ISA07/08 the
clearinghouse, ISA15 usage), as the 837P does; the payer is loop 2100A. ``x12_url`` in a payer
profile stays an explicit override: that payer (or its own real-time gateway) is posted to directly,
without the clearinghouse's token.

The token: the client-credentials grant with the API's client authentication (authlib's
``client_secret_basic`` / ``client_secret_post``), cached until 30 s before it expires, one for all
payers, a 401 re-authorizes once. It runs on the eligibility port's event loop (``httpx.AsyncClient``),
so a hanging clearinghouse holds only the eligibility slots, never the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from app.config.clearinghouse import ClearinghouseConfig
from app.domain.payers import PayerProfile
from app.eligibility.errors import PayerRefused, PayerUnavailable
from app.errors import ConfigError
from app.http_policy import Verdict, classify
from app.settings import Settings

TOKEN_LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class Identities:
    """ISA/GS identities of a 270 (defaults: what a direct ``x12_url`` inquiry carries)."""

    sender_id: str = "CLAIMBRIDGE"
    receiver_id: str = ""  # empty: the payer's x12_receiver_id, else the payer id
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    application_sender: str = ""
    application_receiver: str = ""
    usage: str = "P"


@dataclass(frozen=True)
class ClearinghouseRealtime:
    """Where and as whom the 270 goes through the clearinghouse."""

    url: str
    token_url: str
    client_id: str
    client_secret: str
    scope: str
    auth_method: str
    identities: Identities


def identities_of(clearing: ClearinghouseConfig) -> Identities:
    """The 270's ISA/GS identities: those of the 837P batches (config/clearinghouse.yaml)."""
    i = clearing.spec.interchange
    return Identities(
        sender_id=i.sender_id,
        receiver_id=i.receiver_id,
        sender_qualifier=i.sender_qualifier,
        receiver_qualifier=i.receiver_qualifier,
        application_sender=i.application_sender,
        application_receiver=i.application_receiver,
        usage=i.usage,
    )


def realtime_from(settings: Settings, clearing: ClearinghouseConfig) -> ClearinghouseRealtime | None:
    """The clearinghouse's real-time channel (its API's eligibility path), or None when there is none.

    Whatever carries the batches (``adapters.clearinghouse``: ``http``, or ``folder`` with the
    day-before checks as batch 270 files, :mod:`app.eligibility.batch`), real-time inquiries need the API.
    """
    api = settings.clearinghouse.api
    if not api.eligibility_path or not api.base_url:
        return None
    return ClearinghouseRealtime(
        url=api.base_url.rstrip("/") + "/" + api.eligibility_path.lstrip("/"),
        token_url=api.token_url,
        client_id=api.client_id,
        client_secret=api.client_secret.get_secret_value(),
        scope=api.scope,
        auth_method=api.auth_method,
        identities=identities_of(clearing),
    )


def check_transports(profiles: Iterable[PayerProfile], realtime: ClearinghouseRealtime | None, source: str) -> None:
    """At start-up: every payer asked over X12 without its own ``x12_url`` needs the clearinghouse's channel."""
    if realtime is not None:
        return
    for profile in profiles:
        endpoint = profile.eligibility
        if endpoint is not None and endpoint.adapter == "x12" and not endpoint.x12_url:
            raise ConfigError(
                source,
                None,
                "eligibility",
                f"payer {profile.payer_id}: X12 eligibility goes through the clearinghouse, whose transport has no "
                "real-time channel; set clearinghouse.api.base_url and clearinghouse.api.eligibility_path (with a "
                "folder transport the day-before checks still go as batch 270 files), or give the payer an x12_url",
            )


class TokenAuth(httpx.Auth):
    """The clearinghouse API's client-credentials token on an async client (one per port)."""

    def __init__(self, realtime: ClearinghouseRealtime) -> None:
        self._realtime = realtime
        self._client_auth = ClientAuth(realtime.client_id, realtime.client_secret, realtime.auth_method)
        self._token: OAuth2Token | None = None
        self._lock = asyncio.Lock()

    def _token_request(self) -> httpx.Request:
        body = prepare_token_request("client_credentials", scope=self._realtime.scope or None)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        url, headers, body = self._client_auth.prepare("POST", self._realtime.token_url, headers, body)
        return httpx.Request("POST", url, headers=headers, content=body)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        for attempt in (1, 2):
            async with self._lock:
                token = self._token
                if token is None or token.is_expired(leeway=TOKEN_LEEWAY_SECONDS):
                    response = yield self._token_request()
                    await response.aread()
                    token = self._token = _read_token(response)
            request.headers["Authorization"] = f"Bearer {token['access_token']}"
            response = yield request
            if response.status_code != 401 or attempt == 2:
                return
            self._token = None  # re-authorize exactly once


def _read_token(response: httpx.Response) -> OAuth2Token:
    if response.status_code in (400, 401):
        raise PayerRefused(f"clearinghouse token endpoint refused the client credentials ({response.status_code})")
    verdict = classify(response.status_code, reauthorized=True)
    if verdict is Verdict.TEMPORARY:
        raise PayerUnavailable(f"clearinghouse token endpoint answered {response.status_code}")
    if verdict is not Verdict.OK:
        raise PayerRefused(f"clearinghouse token endpoint refused the client with {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise PayerRefused("clearinghouse token endpoint answered something that is not JSON") from exc
    if not isinstance(data, dict) or not data.get("access_token"):
        raise PayerRefused("clearinghouse token endpoint answered without an access_token")
    return OAuth2Token.from_dict(data)
