"""``POST /notifications``: authenticate the sender, check the body, store it, acknowledge.

Order of checks: content type (415), size (413), sender credential (401, nothing stored), body
shape and limits (400, or 413 for too many events; nothing stored: :mod:`app.intake.limits`).
Then the raw body is stored as ONE inbox row (with the jobs it stands for, which the worker's
expansion duty creates: ADR "intake stores the inbox row only") in a group commit before the 2xx.
Handshakes and heartbeats only update the subscription's health. Duplicates (same subscription and
event number, same bundle id, same resource version) are acknowledged with 200 and not processed
again; an event both in a notification still waiting for expansion and in a later one is answered
202 twice and still becomes one job.

``POST /notifications`` itself is served by :func:`post_notification_asgi`, which the request-limits
middleware calls without the router; the FastAPI route below documents it in the OpenAPI schema
(and serves it should the middleware not be installed).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache

import orjson
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import DataError
from starlette.types import Receive, Scope, Send

from app.api.intake_writer import IntakeWriter, Pending
from app.api.limits import BODY_KEY
from app.api.outcomes import (
    DIRECT_ROUTE,
    FHIR_JSON,
    OutcomeError,
    claimbridge_error_handler,
    operation_outcome,
)
from app.api.sender import find_sender
from app.api.throttle import check_throttle_async, record_failure
from app.db.errors import describe_error
from app.db.intake_repo import SenderSubscription
from app.domain.tenancy import ehr_scope
from app.errors import ClaimbridgeError
from app.intake.auth import SIGNATURE_HEADER, bearer_token, signature_valid
from app.intake.limits import IntakeLimits, check_reference_key
from app.intake.notification import InvalidNotification, Notification, parse_notification
from app.logging import get_logger
from app.services import Services, services_of

router = APIRouter(tags=["notifications"])
log = get_logger("claimbridge.intake")
_debug = logging.getLogger("claimbridge.intake")  # the standard logger structlog writes through
ACCEPTED_TYPES = ("application/fhir+json", "application/json")
_SIGNATURE = SIGNATURE_HEADER.encode()
_HEADERS = frozenset({b"content-length", b"content-type", b"authorization", _SIGNATURE})


def intake_headers(scope: Scope) -> dict[bytes, str]:
    """The request headers intake reads, in one pass (the first of a repeated header, as Starlette's ``get``)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


class Ack(Response):
    """A 2xx OperationOutcome whose bytes were built once (:func:`ack_parts`): the per-request path."""

    def __init__(self, status: int, message: str) -> None:  # Response.__init__ unneeded: its attributes are set here
        self.status_code = status
        self.body, headers = ack_parts(status, message)
        self.raw_headers = list(headers)  # a fresh list: middlewares may add to a response's headers
        self.background = None


@lru_cache(maxsize=512)
def ack_parts(status: int, message: str) -> tuple[bytes, tuple[tuple[bytes, bytes], ...]]:
    body = orjson.dumps(operation_outcome(status, message, severity="information"))
    return body, ((b"content-length", str(len(body)).encode()), (b"content-type", FHIR_JSON.encode()))


@dataclass
class SenderCache:
    """Verified senders by the SHA-256 of their secret, for ``intake.auth_cache_seconds``.

    A hit costs one C call and a dict lookup (the keyed HMAC of the stored form, ~4 us, and the
    query run only on a miss); the lookup is by a hash, so its timing tells nothing about the
    secret, and only the hash is kept in memory.
    """

    ttl: float
    entries: dict[str, tuple[SenderSubscription, float]] = field(default_factory=dict)

    def get(self, digest: str) -> SenderSubscription | None:
        hit = self.entries.get(digest)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        return None

    def put(self, digest: str, sub: SenderSubscription) -> None:
        if len(self.entries) > 10_000:
            self.entries.clear()
        self.entries[digest] = (sub, time.monotonic() + self.ttl)


async def read_body(request: Request, limit: int, headers: dict[bytes, str]) -> bytes:
    body = request.scope.get(BODY_KEY)
    if body is not None:  # read and size-checked by the request-limits middleware (the same intake limit)
        return bytes(body)
    declared = headers.get(b"content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise OutcomeError(413, f"notification body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise OutcomeError(413, f"notification body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_content_type(headers: dict[bytes, str], body: bytes) -> str | None:
    content_type = headers.get(b"content-type")
    if body.strip() and (content_type is None or content_type.split(";")[0].strip().lower() not in ACCEPTED_TYPES):
        raise OutcomeError(415, f"content type {content_type!r} not accepted; send application/fhir+json")
    return content_type


async def authenticate(
    request: Request, services: Services, body: bytes, headers: dict[bytes, str]
) -> SenderSubscription:
    await check_throttle_async(request)
    token = bearer_token(headers.get(b"authorization"))
    if token is None:
        raise OutcomeError(401, "missing bearer credential", headers={"WWW-Authenticate": "Bearer"})
    digest = hashlib.sha256(token.encode()).hexdigest()
    cache: SenderCache = request.app.state.sender_cache
    sub = cache.get(digest)
    if sub is None:
        sub = await to_thread.run_sync(find_sender, services.engine, request.app.state.secret_keys, token)
        if sub is None:
            await to_thread.run_sync(record_failure, request)
            raise OutcomeError(401, "unknown subscription credential", headers={"WWW-Authenticate": "Bearer"})
        cache.put(digest, sub)
    if sub.signing_secret and not signature_valid(body, sub.signing_secret, headers.get(_SIGNATURE)):
        await to_thread.run_sync(record_failure, request)
        raise OutcomeError(401, "missing or invalid X-Signature (HMAC-SHA256 of the body)")
    return sub


def limits_of(request: Request, services: Services) -> IntakeLimits:
    """:func:`intake_limits`, built once per app."""
    state = request.app.state
    limits: IntakeLimits | None = getattr(state, "intake_limits", None)
    if limits is None:
        limits = state.intake_limits = intake_limits(services)
    return limits


def intake_limits(services: Services) -> IntakeLimits:
    s, security = services.settings.intake, services.settings.security
    return IntakeLimits(
        max_depth=s.max_json_depth,
        max_events=s.max_events,
        validate_resources=s.validate_resources,
        body_depth=security.max_json_depth,
        max_array_items=security.max_json_array_items,
    )


async def receive(
    request: Request, *, path_type: str | None = None, path_id: str | None = None, delete: bool = False
) -> Response:
    services = services_of(request)
    headers = intake_headers(request.scope)
    body = await read_body(request, services.settings.intake.max_body_bytes, headers)
    content_type = check_content_type(headers, body)
    sub = await authenticate(request, services, body, headers)
    try:
        if delete:
            check_reference_key(f"{path_type}/{path_id}", "the URL's resource")
            note = Notification(kind="delete", subscription_id=None)
        else:
            note = parse_notification(body, path_type=path_type, path_id=path_id, limits=limits_of(request, services))
    except InvalidNotification as exc:
        services.metrics.notifications_rejected.labels(reason="invalid").inc()
        raise OutcomeError(exc.status, str(exc)) from exc
    if note.subscription_id is not None and note.subscription_id != sub.fhir_id:
        raise OutcomeError(401, f"credential does not belong to Subscription/{note.subscription_id}")
    writer: IntakeWriter = request.app.state.intake_writer
    try:
        stored = await writer.store(Pending(sub.id, note, body, content_type, ehr_scope(sub.ehr)))
    except DataError as exc:  # a value the database refuses (the limits should have caught it): never retry it
        log.error("notification.store_refused", subscription=sub.id, error=describe_error(exc))
        raise OutcomeError(400, "a value of the notification cannot be stored (out of range or too long)") from exc
    except Exception as exc:
        log.error("notification.store_failed", subscription=sub.id, error=describe_error(exc))
        raise OutcomeError(503, "could not store the notification; retry later", headers={"Retry-After": "1"}) from exc
    services.metrics.count_received(note.kind)
    if _debug.isEnabledFor(logging.DEBUG):  # per-notification detail (counts are in /metrics): ~10 us when built
        log.debug(
            "notification.received",
            subscription=sub.id,
            kind=note.kind,
            bundle=note.bundle_id,
            events=[e.number for e in note.events],
            jobs=stored.jobs,
            duplicates=stored.duplicates,
        )
    if stored.jobs:
        return Ack(202, f"accepted {stored.jobs} event(s)")
    return Ack(200, "duplicate, already received" if stored.duplicates else f"{note.kind} received")


@router.post("/notifications", status_code=202, summary="Subscription notification (backport or rest-hook)")
async def post_notification(request: Request) -> Response:
    return await receive(request)


async def post_notification_asgi(scope: Scope, receive_message: Receive, send: Send) -> None:
    """``POST /notifications`` as a plain ASGI endpoint, called by :class:`app.api.limits.RequestLimits`.

    The same answers as the route above (which stays for the OpenAPI document and any request the
    middleware does not hand here): a :class:`~app.errors.ClaimbridgeError` gets the app's handler's
    OperationOutcome, anything else propagates to the app's 500 handler. What it skips is FastAPI's
    per-request routing, dependency solving and exception-middleware layers (~40 us of a ~250 us
    request, measured in-process; bench/README.md Notes). The middleware leaves the body it has read
    and size-checked in ``scope[BODY_KEY]``; the headers are read in one pass and a 2xx is a prebuilt
    :class:`Ack`.
    """
    scope[DIRECT_ROUTE] = "/notifications"  # what the 500 handler's log names, as the router's route would
    request = Request(scope, receive_message)
    try:
        response = await receive(request)
    except ClaimbridgeError as exc:
        response = await claimbridge_error_handler(request, exc)
    await response(scope, receive_message, send)


async def deliver_resource(request: Request, resource_type: str, resource_id: str) -> Response:
    return await receive(request, path_type=resource_type, path_id=resource_id)


for _method in ("POST", "PUT"):  # one route each: their OpenAPI operation ids must differ
    router.add_api_route(
        "/notifications/{resource_type}/{resource_id}",
        deliver_resource,
        methods=[_method],
        operation_id=f"{_method.lower()}_resource_notification",
        summary="Plain R4 rest-hook delivery of one resource",
    )


@router.delete("/notifications/{resource_type}/{resource_id}", summary="Plain R4 rest-hook delete")
async def delete_resource(request: Request, resource_type: str, resource_id: str) -> Response:
    return await receive(request, delete=True)
