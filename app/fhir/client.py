"""The EHR FHIR client: reads, searches, encounter context and idempotent write-back, with retries.

One :class:`FhirClient` per EHR wraps one ``httpx.AsyncClient`` that the caller owns (created in
the app lifespan with :func:`build_http_client`, closed there too). Every call:

- sends FHIR JSON (``Accept``/``Content-Type: application/fhir+json``);
- maps failures to the error tree of :mod:`app.fhir.errors` (messages from the OperationOutcome);
- retries only temporary errors (:func:`app.http_policy.classify`: 408, 425, 429, 5xx, network), at
  most ``RetryPolicy.max_attempts`` tries, with the one :class:`app.retry.RetryPolicy` (exponential
  backoff, full jitter, or exactly the server's ``Retry-After`` when it sent one).
  A plain create is not retried when the server may already have acted on it (read timeout, 500,
  502, 504); use :meth:`FhirClient.create` with ``if_none_exist`` to make write-back idempotent.
- honours a ``Retry-After`` (on 429 or 503) for the whole server, not only for the call that got it:
  the clients of one EHR share a :class:`ServerHold`, and until it ends a call fails at once with
  :class:`~app.fhir.errors.RateLimited` (the remaining wait as its ``retry_after``) without sending.
  Without it every queued job and outbox row would send its own request into the throttle.

Round trips of :meth:`FhirClient.encounter_context`: **2**, whatever the number of orders —
one ``Encounter?_id=…&_include=…&_revinclude=…`` search and one ``Coverage?beneficiary=…`` search
(plus one per extra page if the server pages the included resources).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from app.fhir.errors import (
    FhirNetworkError,
    InvalidFhirResponse,
    RateLimited,
    ResourceGone,
    TemporaryFhirError,
    error_for_status,
)
from app.http_policy import Verdict, classify, retry_after_header
from app.retry import RetryPolicy

FHIR_JSON = "application/fhir+json"
Resource = dict[str, Any]
Params = Mapping[str, str | Sequence[str]]
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_OPERATION = re.compile(r"^[a-z][A-Za-z-]{0,63}$")

ENCOUNTER_INCLUDES: tuple[str, ...] = (
    "Encounter:patient",
    "Encounter:participant",
    "Encounter:service-provider",
)
ENCOUNTER_REVINCLUDES: tuple[str, ...] = (
    "ServiceRequest:encounter",
    "MedicationRequest:encounter",
    "Condition:encounter",
    "ChargeItem:context",
    "Procedure:encounter",
)


#: Inline retries of one call; a longer Retry-After hands the job back to the queue's backoff.
DEFAULT_RETRY = RetryPolicy(max_attempts=4, base_seconds=0.5, cap_seconds=20.0, max_retry_after=120.0)


@dataclass(frozen=True)
class WriteResult:
    """What a create or update answered: the status, the resource (if returned), Location, version."""

    status: int
    resource: Resource | None
    location: str | None
    version_id: str | None

    @property
    def created(self) -> bool:
        return self.status == 201


@dataclass(frozen=True)
class EncounterFetch:
    """An encounter with its orders, diagnoses, patient, participants, organisation and coverages."""

    encounter: Resource
    resources: list[tuple[Resource, str | None]]
    round_trips: int


def build_http_client(
    *,
    auth: httpx.Auth | None = None,
    timeout: float = 10.0,
    connect_timeout: float = 5.0,
    max_connections: int = 10,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An ``AsyncClient`` for one EHR: bounded pool and timeouts, FHIR JSON headers, optional auth."""
    return httpx.AsyncClient(
        auth=auth,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"Accept": FHIR_JSON},
        transport=transport,
        follow_redirects=False,
    )


#: Answers whose ``Retry-After`` holds every call to the server (throttled, or unavailable for a while).
HOLDING_STATUSES = frozenset({429, 503})


class ServerHold:
    """The time until which one server asked us not to call (its latest ``Retry-After``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0

    def remaining(self) -> float:
        return max(0.0, self._until - self._clock())

    def extend(self, seconds: float) -> None:
        self._until = max(self._until, self._clock() + seconds)


class FhirClient:
    """Async FHIR R4 client for one EHR base URL."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        hold: ServerHold | None = None,
    ) -> None:
        self._http = http
        self._hold = hold or ServerHold()
        self.base_url = base_url.rstrip("/")
        self._origin = httpx.URL(self.base_url).copy_with(path="/", query=None, fragment=None)
        self._retry = retry
        self._sleep = sleep
        self._rand = rand

    # -- reads -------------------------------------------------------------------------------------

    async def read(self, resource_type: str, resource_id: str) -> Resource:
        return await self._get_json(self._url(resource_type, resource_id))

    async def vread(self, resource_type: str, resource_id: str, version_id: str) -> Resource:
        url = self._url(resource_type, resource_id, "_history", _checked_id(version_id))
        return await self._get_json(url)

    async def search_bundle(self, resource_type: str, params: Params) -> Resource:
        """The first page of a search, as the server's Bundle."""
        return await self._get_json(self._url(resource_type), params=_query(params))

    async def next_page(self, bundle: Resource) -> Resource | None:
        """The page a Bundle's ``next`` link points at, or None on the last page."""
        for link in bundle.get("link") or ():
            if link.get("relation") == "next" and link.get("url"):
                return await self._get_json(self._same_origin(str(link["url"])))
        return None

    async def pages(self, resource_type: str, params: Params) -> AsyncIterator[Resource]:
        """Every page of a search, following ``link[next]``."""
        page: Resource | None = await self.search_bundle(resource_type, params)
        while page is not None:
            yield page
            page = await self.next_page(page)

    async def search(
        self, resource_type: str, params: Params, *, matches_only: bool = False
    ) -> AsyncIterator[Resource]:
        """Every resource of a search across pages (``matches_only`` drops ``_include`` extras)."""
        async for page in self.pages(resource_type, params):
            for resource, _full_url, mode in _entries(page):
                if not matches_only or mode in (None, "match"):
                    yield resource

    async def operation(
        self, resource_type: str, name: str, *, resource_id: str | None = None, params: Params | None = None
    ) -> Resource:
        """GET an operation, e.g. ``operation("Subscription", "events", resource_id="7", params=…)``."""
        if not _OPERATION.match(name):
            raise ValueError(f"invalid operation name {name!r}")
        parts = [resource_id] if resource_id is not None else []
        url = f"{self._url(resource_type, *parts)}/${name}"
        return await self._get_json(url, params=_query(params or {}))

    async def read_many(self, resource_type: str, ids: Iterable[str], *, chunk_size: int = 50) -> dict[str, Resource]:
        """Batched read by ``_id=a,b,c`` (one search per ``chunk_size`` ids); missing ids are absent."""
        wanted = list(dict.fromkeys(_checked_id(i) for i in ids))
        found: dict[str, Resource] = {}
        for start in range(0, len(wanted), chunk_size):
            chunk = wanted[start : start + chunk_size]
            params = {"_id": ",".join(chunk), "_count": str(len(chunk))}
            async for resource in self.search(resource_type, params, matches_only=True):
                if resource.get("resourceType") == resource_type and resource.get("id") in chunk:
                    found[resource["id"]] = resource
        return found

    async def encounter_context(self, encounter_id: str) -> EncounterFetch:
        """An encounter and its context in 2 round trips (see the module docstring)."""
        params: dict[str, str | Sequence[str]] = {
            "_id": _checked_id(encounter_id),
            "_include": list(ENCOUNTER_INCLUDES),
            "_revinclude": list(ENCOUNTER_REVINCLUDES),
        }
        collected: dict[str, tuple[Resource, str | None]] = {}
        trips = await self._collect("Encounter", params, collected)
        encounter = collected.get(f"Encounter/{encounter_id}")
        if encounter is None:
            raise ResourceGone(f"Encounter/{encounter_id} not found", status=404)
        patient = (encounter[0].get("subject") or {}).get("reference")
        if isinstance(patient, str) and patient:
            trips += await self._collect("Coverage", {"beneficiary": patient}, collected)
        return EncounterFetch(encounter=encounter[0], resources=list(collected.values()), round_trips=trips)

    async def _collect(self, resource_type: str, params: Params, into: dict[str, tuple[Resource, str | None]]) -> int:
        trips = 0
        async for page in self.pages(resource_type, params):
            trips += 1
            for resource, full_url, _mode in _entries(page):
                into.setdefault(f"{resource['resourceType']}/{resource.get('id')}", (resource, full_url))
        return trips

    # -- writes ------------------------------------------------------------------------------------

    async def create(self, resource: Resource, *, if_none_exist: Params | None = None) -> WriteResult:
        """POST a resource; with ``if_none_exist`` (e.g. ``{"identifier": "sys|val"}``) it is idempotent."""
        headers = {"Content-Type": FHIR_JSON, "Prefer": "return=representation"}
        if if_none_exist:
            headers["If-None-Exist"] = urlencode(_query(if_none_exist), safe="|:/")
        response = await self._send(
            "POST",
            self._url(_type_of(resource)),
            content=orjson.dumps(resource),
            headers=headers,
            idempotent=bool(if_none_exist),
        )
        return _write_result(response)

    async def create_unique(self, resource: Resource) -> WriteResult:
        """Conditional create keyed on the resource's first identifier (``system|value``)."""
        identifiers = resource.get("identifier") or []
        first = identifiers[0] if isinstance(identifiers, list) and identifiers else None
        if not isinstance(first, dict) or not first.get("system") or not first.get("value"):
            raise ValueError("create_unique needs identifier[0] with system and value")
        return await self.create(resource, if_none_exist={"identifier": f"{first['system']}|{first['value']}"})

    async def update(self, resource: Resource, *, if_match_version: str | None) -> WriteResult:
        """PUT a resource; with ``if_match_version`` the server refuses (412) if it changed meanwhile."""
        headers = {"Content-Type": FHIR_JSON, "Prefer": "return=representation"}
        if if_match_version is not None:
            headers["If-Match"] = f'W/"{_checked_id(if_match_version)}"'
        url = self._url(_type_of(resource), str(resource.get("id", "")))
        response = await self._send("PUT", url, content=orjson.dumps(resource), headers=headers)
        return _write_result(response)

    async def delete(self, resource_type: str, resource_id: str) -> None:
        """DELETE a resource; one already gone (404/410) counts as deleted."""
        try:
            await self._send("DELETE", self._url(resource_type, resource_id))
        except ResourceGone:
            return

    # -- transport ---------------------------------------------------------------------------------

    def _url(self, resource_type: str, *parts: str) -> str:
        if not _TYPE.match(resource_type):
            raise ValueError(f"invalid resource type {resource_type!r}")
        return "/".join([self.base_url, resource_type, *(_checked_id(p) if p != "_history" else p for p in parts)])

    def _same_origin(self, url: str) -> str:
        parsed = httpx.URL(url)
        if (parsed.scheme, parsed.host, parsed.port) != (self._origin.scheme, self._origin.host, self._origin.port):
            raise InvalidFhirResponse(f"next link leaves the server's origin ({parsed.host})")
        return url

    async def _get_json(self, url: str, *, params: list[tuple[str, str]] | None = None) -> Resource:
        response = await self._send("GET", url, params=params)
        return _json_body(response, where=f"GET {httpx.URL(url).path}")

    async def _send(self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        where = f"{method} {httpx.URL(url).path}"
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._send_once(method, url, where=where, held=attempt == 1, **kwargs)
            except TemporaryFhirError as error:
                delay = self._retry.delay(attempts=attempt, rand=self._rand, retry_after=error.retry_after)
                if delay is None or (error.maybe_processed and not idempotent):
                    raise
            await self._sleep(delay)

    async def _send_once(self, method: str, url: str, *, where: str, held: bool, **kwargs: Any) -> httpx.Response:
        """One request; ``held``: refused without sending while the server's hold lasts (a retry that
        has already waited out a Retry-After is sent)."""
        wait = self._hold.remaining() if held else 0.0
        if wait > 0:  # not sent: certainly not processed (RateLimited.maybe_processed is False)
            where = f"{where} (held: the EHR asked to wait)"
            held_error = RateLimited(f"{where} -> HTTP 429", status=429, outcome=None, url=where, retry_after=wait)
            held_error.attempted = False
            raise held_error
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            error = FhirNetworkError(f"{where}: {type(exc).__name__}", url=where)
            error.maybe_processed = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            raise error from exc
        if classify(response.status_code, reauthorized=True) is not Verdict.OK:  # 401: auth flow re-authorized
            body = _maybe_json(response)
            retry_after = retry_after_header(response.headers)
            if retry_after and response.status_code in HOLDING_STATUSES:
                self._hold.extend(retry_after)
            raise error_for_status(response.status_code, body=body, where=where, retry_after=retry_after)
        return response


def _checked_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"invalid FHIR id {value!r}")
    return value


def _type_of(resource: Resource) -> str:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise ValueError("resource has no resourceType")
    return resource_type


def _query(params: Params) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        values = [value] if isinstance(value, str) else list(value)
        pairs.extend((name, str(v)) for v in values)
    return pairs


def _maybe_json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def _json_body(response: httpx.Response, *, where: str) -> Resource:
    body = _maybe_json(response)
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise InvalidFhirResponse(f"{where} -> HTTP {response.status_code}: not a FHIR JSON resource")
    return body


def _entries(bundle: Resource) -> Iterable[tuple[Resource, str | None, str | None]]:
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType"):
            yield resource, entry.get("fullUrl"), (entry.get("search") or {}).get("mode")


def _write_result(response: httpx.Response) -> WriteResult:
    body = _maybe_json(response)
    resource = body if isinstance(body, dict) and body.get("resourceType") else None
    etag = response.headers.get("ETag")
    version = etag.removeprefix("W/").strip('"') if etag else None
    if version is None and resource is not None:
        version = (resource.get("meta") or {}).get("versionId")
    return WriteResult(
        status=response.status_code,
        resource=resource,
        location=response.headers.get("Location") or response.headers.get("Content-Location"),
        version_id=version,
    )
