"""The test EHR: a small in-process FHIR R4 server (FastAPI) with SMART backend auth and subscriptions.

Built on real components — FastAPI routing, joserfc signature checks, httpx delivery — so the
client and the notification intake are tested against wire-level behaviour, never mocks of
themselves. Use it over ``httpx.ASGITransport(app=ehr.app)`` (no sockets)::

    ehr = EhrServer(notifier=httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)))
    ehr.register_client("claimbridge", jwks)

FHIR API under ``{base_url}`` (default ``https://ehr.test/fhir``): ``metadata``,
``.well-known/smart-configuration``, read, vread, search (paging with ``_count`` and ``link[next]``,
``_id``, ``_include``/``_revinclude``, ``_lastUpdated``), create (``If-None-Exist``), update
(``If-Match``), delete, ``Subscription`` create/update/delete, ``$status``, ``$events``, topic
definitions as backport ``Basic`` resources (``Basic?code=…|SubscriptionTopic``). Token endpoint:
``https://ehr.test/auth/token``. Fault knobs (``fail_next``, ``rate_limit_next``,
``reject_token_once``, ``delete``, ``drop_notifications``, ``delay_seconds``) make failure paths
reproducible. Not part of the application: never import it from ``app/``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
from fastapi import APIRouter, FastAPI, Request, Response

from tests.ehr import search_api
from tests.ehr.metadata import capability_statement, smart_configuration, topic_definitions
from tests.ehr.smart import TokenIssuer, TokenRefused, permits
from tests.ehr.store import Gone, SearchError, Store
from tests.ehr.subs import SubscriptionHub, SubscriptionRejected

FHIR_JSON = "application/fhir+json"


@dataclass
class Faults:
    """Failure knobs, consumed request by request."""

    fail_next: int = 0
    fail_status: int = 503
    rate_limit_next: int = 0
    retry_after: str = "1"
    unauthorized_next: int = 0
    delay_seconds: float = 0.0
    events_answer: dict[str, Any] | None = None  # a broken $events implementation answers this instead


def fhir_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def outcome(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    return fhir_response(body, status, headers)


class EhrServer:
    """State and FastAPI app of one test EHR."""

    def __init__(
        self,
        *,
        base_url: str = "https://ehr.test/fhir",
        notifier: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        token_lifetime: int = 300,
        require_auth: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        origin = httpx.URL(self.base_url)
        self.token_url = str(origin.copy_with(path="/auth/token"))
        self.clock = clock
        self.store = Store(clock=clock)
        self.tokens = TokenIssuer(token_url=self.token_url, clock=clock, token_lifetime=token_lifetime)
        self.hub = SubscriptionHub(store=self.store, base_url=self.base_url, notifier=notifier, clock=clock)
        self.faults = Faults()
        self.require_auth = require_auth
        self.requests: list[tuple[str, str]] = []
        self._sleep = sleep
        self._holds: dict[str, threading.Event] = {}
        self.app = self._build_app(origin.path.rstrip("/"))
        self.seed(*topic_definitions())

    # -- knobs and seeding -------------------------------------------------------------------------

    def hold(self, path_suffix: str, gate: threading.Event) -> None:
        """Requests to paths ending in ``path_suffix`` are recorded, then wait until ``gate`` is set (≤ 30 s)."""
        self._holds[path_suffix] = gate

    def register_client(self, client_id: str, jwks: dict[str, Any]) -> None:
        self.tokens.register(client_id, jwks)

    def seed(self, *resources: dict[str, Any]) -> list[dict[str, Any]]:
        """Store resources without firing subscription events (the EHR's existing data)."""
        return [self.store.write(r)[0] for r in resources]

    async def save(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Create or update as the clinic would: a new version, and subscription events."""
        stored, created = self.store.write(resource)
        await self.hub.on_write(stored, created=created)
        return stored

    def fail_next(self, count: int, *, status: int = 503) -> None:
        self.faults.fail_next, self.faults.fail_status = count, status

    def rate_limit_next(self, count: int = 1, *, retry_after: str = "1") -> None:
        self.faults.rate_limit_next, self.faults.retry_after = count, retry_after

    def answer_events_with(self, body: dict[str, Any] | None) -> None:
        """``$events`` answers ``body`` (e.g. a Bundle that is no notification) until set back to None."""
        self.faults.events_answer = body

    def reject_token_once(self) -> None:
        self.faults.unauthorized_next = 1

    def delete(self, resource_type: str, resource_id: str) -> None:
        self.store.delete(resource_type, resource_id)

    def drop_notifications(self, subscription_id: str, first: int, last: int) -> None:
        self.hub.channels[subscription_id].dropped.update(range(first, last + 1))

    async def send_heartbeat(self, subscription_id: str) -> bool:
        return await self.hub.heartbeat(subscription_id)

    def count(self, method: str, path_prefix: str) -> int:
        """How many requests with ``method`` hit paths starting with ``path_prefix``."""
        return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    # -- HTTP --------------------------------------------------------------------------------------

    def _build_app(self, prefix: str) -> FastAPI:
        app = FastAPI(title="claimbridge test EHR", openapi_url=None)
        app.middleware("http")(self._gatekeeper(prefix))
        app.add_api_route("/auth/token", self._token, methods=["POST"])
        app.include_router(self._router(), prefix=prefix)
        return app

    def _gatekeeper(self, prefix: str) -> Callable[..., Awaitable[Response]]:
        open_paths = {f"{prefix}/metadata", f"{prefix}/.well-known/smart-configuration", "/auth/token"}

        async def gatekeeper(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            path = request.url.path
            self.requests.append((request.method, path))
            for suffix, gate in self._holds.items():
                if path.endswith(suffix):
                    await asyncio.to_thread(gate.wait, 30)
            if self.faults.delay_seconds:
                await self._sleep(self.faults.delay_seconds)
            if path in open_paths:
                return await call_next(request)
            refused = self._injected_fault() or self._auth_refusal(request)
            return refused or await call_next(request)

        return gatekeeper

    def _injected_fault(self) -> Response | None:
        faults = self.faults
        if faults.fail_next > 0:
            faults.fail_next -= 1
            return outcome(faults.fail_status, "transient", "injected failure")
        if faults.rate_limit_next > 0:
            faults.rate_limit_next -= 1
            return outcome(429, "throttled", "slow down", {"Retry-After": faults.retry_after})
        if faults.unauthorized_next > 0:
            faults.unauthorized_next -= 1
            return outcome(401, "login", "token rejected", {"WWW-Authenticate": "Bearer"})
        return None

    def _auth_refusal(self, request: Request) -> Response | None:
        if not self.require_auth:
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        issued = self.tokens.bearer(token) if scheme.lower() == "bearer" else None
        if issued is None:
            return outcome(401, "login", "missing, unknown or expired bearer token", {"WWW-Authenticate": "Bearer"})
        resource_type = request.url.path.removeprefix(httpx.URL(self.base_url).path).strip("/").split("/")[0]
        if not permits(issued.scope, request.method, resource_type):
            return outcome(403, "forbidden", f"the token's scopes do not allow {request.method} {resource_type}")
        return None

    async def _token(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return Response(orjson.dumps({"error": "invalid_request"}), status_code=400, media_type="application/json")
        form = dict(parse_qsl((await request.body()).decode()))
        try:
            body = self.tokens.issue(form)
        except TokenRefused as refused:
            return Response(orjson.dumps(refused.body), status_code=refused.status, media_type="application/json")
        return Response(orjson.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"})

    def _router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/metadata", self._metadata, methods=["GET"])
        router.add_api_route("/.well-known/smart-configuration", self._smart_configuration, methods=["GET"])
        router.add_api_route("/Subscription/$status", self._status_type, methods=["GET"])
        router.add_api_route("/Subscription/{sid}/$status", self._status_instance, methods=["GET"])
        router.add_api_route("/Subscription/{sid}/$events", self._events, methods=["GET", "POST"])
        router.add_api_route("/{rtype}/{rid}/_history/{vid}", self._vread, methods=["GET"])
        router.add_api_route("/{rtype}/{rid}", self._read, methods=["GET"])
        router.add_api_route("/{rtype}/{rid}", self._update, methods=["PUT"])
        router.add_api_route("/{rtype}/{rid}", self._delete, methods=["DELETE"])
        router.add_api_route("/{rtype}", self._search, methods=["GET"])
        router.add_api_route("/{rtype}", self._create, methods=["POST"])
        return router

    async def _metadata(self) -> Response:
        return fhir_response(capability_statement(self.base_url, self.token_url))

    async def _smart_configuration(self) -> Response:
        return Response(orjson.dumps(smart_configuration(self.token_url)), media_type="application/json")

    async def _read(self, rtype: str, rid: str) -> Response:
        try:
            resource = self.store.current(rtype, rid)
        except Gone:
            return outcome(410, "deleted", f"{rtype}/{rid} was deleted")
        if resource is None:
            return outcome(404, "not-found", f"{rtype}/{rid} is not known")
        return fhir_response(resource, headers={"ETag": f'W/"{resource["meta"]["versionId"]}"'})

    async def _vread(self, rtype: str, rid: str, vid: str) -> Response:
        resource = self.store.version(rtype, rid, vid)
        if resource is None:
            return outcome(404, "not-found", f"{rtype}/{rid}/_history/{vid} is not known")
        return fhir_response(resource, headers={"ETag": f'W/"{vid}"'})

    async def _search(self, rtype: str, request: Request) -> Response:
        try:
            bundle = search_api.search(self.store, self.base_url, rtype, list(request.query_params.multi_items()))
        except SearchError as exc:
            return outcome(400, "not-supported", str(exc))
        return fhir_response(bundle)

    async def _create(self, rtype: str, request: Request) -> Response:
        resource = await _body(request)
        if resource is None or resource.get("resourceType") != rtype:
            return outcome(400, "invalid", f"body must be a {rtype} resource")
        condition = request.headers.get("If-None-Exist")
        if condition:
            try:
                existing = search_api.conditional_matches(self.store, rtype, condition)
            except SearchError as exc:
                return outcome(400, "not-supported", str(exc))
            if len(existing) > 1:
                return outcome(412, "duplicate", "If-None-Exist matches more than one resource")
            if existing:
                return self._written(existing[0], 200)
        resource.pop("id", None)
        if rtype == "Subscription":
            return await self._subscribe({**resource, "id": self.store.new_id("Subscription")}, 201)
        return self._written(await self.save(resource), 201)

    async def _update(self, rtype: str, rid: str, request: Request) -> Response:
        resource = await _body(request)
        if resource is None or resource.get("resourceType") != rtype or resource.get("id") != rid:
            return outcome(400, "invalid", f"body must be {rtype}/{rid}")
        current = self.store.by_key(f"{rtype}/{rid}")
        if_match = request.headers.get("If-Match")
        if if_match is not None:
            wanted = if_match.removeprefix("W/").strip('"')
            if current is None or current["meta"]["versionId"] != wanted:
                return outcome(412, "conflict", f"{rtype}/{rid} is not at version {wanted}")
        if rtype == "Subscription":
            return await self._subscribe(resource, 200 if current else 201)
        stored = await self.save(resource)
        return self._written(stored, 201 if stored["meta"]["versionId"] == "1" else 200)

    async def _delete(self, rtype: str, rid: str) -> Response:
        if self.store.by_key(f"{rtype}/{rid}") is None:
            return outcome(404, "not-found", f"{rtype}/{rid} is not known")
        self.store.delete(rtype, rid)
        if rtype == "Subscription":
            self.hub.channels.pop(rid, None)
        return Response(status_code=204)

    async def _subscribe(self, resource: dict[str, Any], status: int) -> Response:
        try:
            stored = await self.hub.activate(resource)
        except SubscriptionRejected as exc:
            return outcome(400, "not-supported", str(exc))
        return self._written(stored, status)

    def _written(self, resource: dict[str, Any], status: int) -> Response:
        location = (
            f"{self.base_url}/{resource['resourceType']}/{resource['id']}/_history/{resource['meta']['versionId']}"
        )
        headers = {"Location": location, "ETag": f'W/"{resource["meta"]["versionId"]}"'}
        return fhir_response(resource, status, headers)

    async def _status_type(self, request: Request) -> Response:
        ids = request.query_params.getlist("id") or list(self.hub.channels)
        return fhir_response(self.hub.status_bundle(ids))

    async def _status_instance(self, sid: str) -> Response:
        if sid not in self.hub.channels:
            return outcome(404, "not-found", f"Subscription/{sid} is not known")
        return fhir_response(self.hub.status_bundle([sid]))

    async def _events(self, sid: str, request: Request) -> Response:
        if sid not in self.hub.channels:
            return outcome(404, "not-found", f"Subscription/{sid} is not known")
        if self.faults.events_answer is not None:
            return fhir_response(self.faults.events_answer)
        params = request.query_params
        total = len(self.hub.channels[sid].events)
        try:
            since = int(params.get("eventsSinceNumber", "1"))
            until = int(params.get("eventsUntilNumber", str(total)))
            bundle = self.hub.events_bundle(sid, since, until, params.get("content"))
        except (ValueError, SubscriptionRejected) as exc:
            return outcome(400, "invalid", str(exc))
        return fhir_response(bundle)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


__all__ = ["EhrServer", "Faults"]
