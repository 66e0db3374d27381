"""The eligibility port: one ``verify(request, endpoint)`` whatever the payer speaks.

The payer profile's ``eligibility.adapter`` picks the adapter from :data:`ADAPTERS` (``fhir``,
``x12``); an unknown name fails when the port is built. Around every adapter call:

- a bounded timeout per attempt (``timeout_seconds``: connect, read and the whole attempt);
- retries per the payer's policy (:class:`app.retry.RetryPolicy`: ``max_attempts``, full-jitter
  backoff, ``Retry-After`` honoured exactly, a longer requested wait than ``max_retry_after_seconds``
  ends the retries) for temporary failures only (timeouts, 408/425/429/5xx per :mod:`app.http_policy`);
- a circuit breaker per payer (:class:`app.retry.CircuitBreaker`): after ``breaker_threshold``
  verifications that failed for good, calls are not made for ``breaker_cooldown_seconds``.

Payer trouble never escapes as an exception: it becomes an ``unverified`` result whose ``reason``
says what happened (the rules turn it into an eligibility warning). A refusal of the request itself
(4xx, auth) is ``unverified`` too, with the refusal as the reason, followed by the payer's own words
when it answered an OperationOutcome (stored with the result, never logged): it is our configuration,
not the patient's coverage.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson

from app.domain.eligibility import EligibilityEndpoint, EligibilityRequest, EligibilityResult, unverified
from app.eligibility import fhir
from app.eligibility.clearinghouse import ClearinghouseRealtime, TokenAuth
from app.eligibility.errors import InvalidPayerResponse, PayerRefused, PayerUnavailable
from app.errors import ConfigError, FatalError, TemporaryError
from app.fhir.auth import BackendServicesConfig, SmartBackendAuth
from app.fhir.keys import load_signing_key
from app.http_policy import Verdict, classify, retry_after_header
from app.logging import get_logger
from app.retry import CircuitBreaker, RetryPolicy

log = get_logger("claimbridge.eligibility")


class Adapter(Protocol):
    source: str

    async def verify(self, request: EligibilityRequest, *, now: datetime) -> EligibilityResult:
        """One attempt; raises a TemporaryError (retry) or a FatalError (give up)."""


AdapterFactory = Callable[[EligibilityEndpoint, httpx.AsyncClient], Adapter]


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    content_type: str,
    limit: float,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One POST, classified by :mod:`app.http_policy` (temporary -> PayerUnavailable, fatal -> PayerRefused)."""
    sent = {"Content-Type": content_type, "Accept": content_type, **(headers or {})}
    try:
        async with asyncio.timeout(limit):  # the whole attempt (no extra task, unlike wait_for)
            response = await client.post(url, content=content, headers=sent, timeout=httpx.Timeout(limit))
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise PayerUnavailable(f"no answer within {limit:g} s") from exc
    except httpx.TransportError as exc:
        raise PayerUnavailable(f"cannot reach the payer ({type(exc).__name__})") from exc
    verdict = classify(response.status_code, reauthorized=True)
    if verdict is Verdict.TEMPORARY:
        raise PayerUnavailable(
            f"payer answered {response.status_code}", retry_after=retry_after_header(response.headers)
        )
    if verdict is not Verdict.OK:
        raise PayerRefused(f"payer refused the request with {response.status_code}", words=_said(response))
    return response


def _said(response: httpx.Response) -> str | None:
    """The OperationOutcome a FHIR payer sent with its refusal, in its words (None for anything else)."""
    try:
        return fhir.outcome_words(orjson.loads(response.content))
    except orjson.JSONDecodeError:
        return None


@dataclass
class FhirAdapter:
    endpoint: EligibilityEndpoint
    client: httpx.AsyncClient
    source: str = "fhir"

    async def verify(self, request: EligibilityRequest, *, now: datetime) -> EligibilityResult:
        url = f"{self.endpoint.fhir_base_url}/{self.endpoint.submit_path}"
        body = orjson.dumps(fhir.build_request(request, created=now))
        response = await post(
            self.client, url, content=body, content_type="application/fhir+json", limit=self.endpoint.timeout_seconds
        )
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise InvalidPayerResponse("payer answered something that is not JSON") from exc
        return fhir.read_response(fhir.unwrap(answer), request, now=now)


def _x12_adapter(endpoint: EligibilityEndpoint, client: httpx.AsyncClient) -> Adapter:
    """Straight to the payer's ``x12_url`` (the port sends the others through the clearinghouse)."""
    from app.eligibility.x12 import X12Adapter

    return X12Adapter(endpoint=endpoint, client=client, url=endpoint.x12_url or "")


ADAPTERS: dict[str, AdapterFactory] = {
    "fhir": lambda endpoint, client: FhirAdapter(endpoint=endpoint, client=client),
    "x12": _x12_adapter,
}


class ClientCredentialsAuth(httpx.Auth):
    """OAuth 2.0 client credentials (client secret from an environment variable), token cached."""

    def __init__(self, endpoint: EligibilityEndpoint, *, clock: Callable[[], float] = time.monotonic) -> None:
        secret = os.environ.get(endpoint.client_secret_env or "", "")
        self._form = {
            "grant_type": "client_credentials",
            "client_id": endpoint.client_id or "",
            "client_secret": secret,
        }
        if endpoint.scope:
            self._form["scope"] = endpoint.scope
        self._url = endpoint.token_url or ""
        self._clock = clock
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        for attempt in (1, 2):
            async with self._lock:
                if self._token is None or self._token[1] <= self._clock():
                    token_response = yield httpx.Request("POST", self._url, data=self._form)
                    await token_response.aread()
                    self._token = self._read_token(token_response)
            request.headers["Authorization"] = f"Bearer {self._token[0]}"
            response = yield request
            if response.status_code != 401 or attempt == 2:
                return
            self._token = None  # re-authorize exactly once

    def _read_token(self, response: httpx.Response) -> tuple[str, float]:
        verdict = classify(response.status_code, reauthorized=True)
        if verdict is Verdict.TEMPORARY:
            raise PayerUnavailable(f"token endpoint answered {response.status_code}")
        if verdict is not Verdict.OK:
            raise PayerRefused(f"token endpoint refused the client with {response.status_code}")
        data = response.json()
        lifetime = float(data.get("expires_in") or 300)
        return str(data["access_token"]), self._clock() + max(lifetime - 30, 1)


def build_auth(endpoint: EligibilityEndpoint) -> httpx.Auth | None:
    if endpoint.auth == "oauth2-client-credentials":
        return ClientCredentialsAuth(endpoint)
    if endpoint.auth == "smart-backend":
        key = load_signing_key(Path(endpoint.key_path or ""))
        config = BackendServicesConfig(
            client_id=endpoint.client_id or "",
            fhir_base=endpoint.fhir_base_url or "",
            key=key,
            scopes=tuple((endpoint.scope or "system/CoverageEligibilityRequest.c").split()),
            token_endpoint=endpoint.token_url,
        )
        return SmartBackendAuth(config)
    return None


@dataclass
class EligibilityPort:
    """Adapters and breakers per payer, built on first use; all calls on one event loop."""

    clock: Callable[[], datetime]
    transport: httpx.AsyncBaseTransport | None = None  # tests and benchmarks inject one
    rng: random.Random = field(default_factory=random.Random)  # jitter only
    #: The clearinghouse's real-time 270/271 channel (X12 payers without their own ``x12_url``).
    clearinghouse: ClearinghouseRealtime | None = None
    #: The next interchange control number of a 270 (ISA13 = GS06 = ST02): the database counter,
    #: unique across processes (:func:`app.db.billing_repo.next_control_number`); None: no X12.
    control_numbers: Callable[[], int] | None = None
    _adapters: dict[str, Adapter] = field(default_factory=dict)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)
    _clearinghouse_client: httpx.AsyncClient | None = None
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def adapter_for(self, payer_id: str, endpoint: EligibilityEndpoint) -> Adapter:
        if payer_id not in self._adapters:
            factory = ADAPTERS.get(endpoint.adapter)
            if factory is None:
                raise ConfigError("payer profile", None, "eligibility.adapter", f"unknown adapter {endpoint.adapter!r}")
            if endpoint.adapter == "x12" and not endpoint.x12_url:
                self._adapters[payer_id] = self._through_clearinghouse(endpoint)
            else:
                client = self._client(endpoint.timeout_seconds, build_auth(endpoint))
                adapter = factory(endpoint, client)
                if hasattr(adapter, "control_numbers"):
                    adapter.control_numbers = self.control_numbers
                self._adapters[payer_id] = adapter
        return self._adapters[payer_id]

    def _client(self, timeout: float, auth: httpx.Auth | None) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), transport=self.transport, auth=auth, follow_redirects=False
        )
        self._clients.append(client)
        return client

    def _through_clearinghouse(self, endpoint: EligibilityEndpoint) -> Adapter:
        """One client and one token for every payer asked through the clearinghouse."""
        from app.eligibility.x12 import X12Adapter

        realtime = self.clearinghouse
        if realtime is None:  # start-up refuses this configuration (check_transports); never a crash here
            raise ConfigError("payer profile", None, "eligibility", "no clearinghouse real-time channel for X12")
        if self._clearinghouse_client is None:
            self._clearinghouse_client = self._client(endpoint.timeout_seconds, TokenAuth(realtime))
        return X12Adapter(
            endpoint=endpoint, client=self._clearinghouse_client, url=realtime.url, identities=realtime.identities,
            control_numbers=self.control_numbers,
        )  # fmt: skip

    def breaker_for(self, payer_id: str, endpoint: EligibilityEndpoint) -> CircuitBreaker:
        return self.breakers.setdefault(
            payer_id, CircuitBreaker(endpoint.breaker_threshold, endpoint.breaker_cooldown_seconds)
        )

    async def verify(self, request: EligibilityRequest, endpoint: EligibilityEndpoint) -> EligibilityResult:
        """Verify with retries and the payer's breaker; never raises for payer trouble."""
        started = time.perf_counter()
        breaker = self.breaker_for(request.payer_id, endpoint)
        if not breaker.allows(self.clock()):
            return unverified(
                request, reason="payer circuit open after repeated failures", now=self.clock(), latency=0.0
            )
        try:
            result = await self._with_retries(request, endpoint)
        except TemporaryError as exc:
            breaker.record_failure(self.clock())
            log.warning("eligibility.unverified", payer=request.payer_id, reason=str(exc))
            return unverified(request, reason=str(exc), now=self.clock(), latency=time.perf_counter() - started)
        except FatalError as exc:
            log.warning("eligibility.refused", payer=request.payer_id, reason=str(exc))  # never the payer's words
            words = getattr(exc, "words", None)
            reason = f"{exc}: {words}" if words else str(exc)
            return unverified(request, reason=reason, now=self.clock(), latency=time.perf_counter() - started)
        breaker.record_success()
        return _with_latency(result, time.perf_counter() - started)

    async def _with_retries(self, request: EligibilityRequest, endpoint: EligibilityEndpoint) -> EligibilityResult:
        adapter = self.adapter_for(request.payer_id, endpoint)
        policy = RetryPolicy(
            endpoint.max_attempts, endpoint.backoff_base_seconds, endpoint.backoff_cap_seconds,
            max_retry_after=endpoint.max_retry_after_seconds,
        )  # fmt: skip
        attempts = 0
        while True:
            attempts += 1
            try:
                async with asyncio.timeout(endpoint.timeout_seconds + 1):
                    return await adapter.verify(request, now=self.clock())
            except TimeoutError as exc:
                error: TemporaryError = PayerUnavailable(f"no answer within {endpoint.timeout_seconds:g} s")
                error.__cause__ = exc
            except TemporaryError as exc:
                error = exc
            wait = policy.delay(attempts=attempts, rand=self.rng.random, retry_after=error.retry_after)
            if wait is None:
                raise PayerUnavailable(f"{error} (after {attempts} attempt{'s' * (attempts > 1)})") from error
            await asyncio.sleep(wait)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
        self._adapters.clear()
        self._clearinghouse_client = None


def _with_latency(result: EligibilityResult, latency: float) -> EligibilityResult:
    return replace(result, latency_seconds=round(latency, 4))


def describe(result: EligibilityResult) -> dict[str, Any]:
    """A short, PHI-free summary for logs."""
    return {"status": result.status, "payer": result.payer_id, "source": result.source, "errors": len(result.errors)}
