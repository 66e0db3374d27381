"""Request limits on every endpoint, as one ASGI middleware in front of the routes.

- a NUL (``%00``) in the path or query, or ``\\u0000`` in a JSON body, is 400: PostgreSQL accepts no
  NUL in text;
- a body over the limit is 413 before it is read (``Content-Length``) or as soon as it passes the
  limit (chunked): ``intake.max_body_bytes`` for ``/notifications...``, ``security.max_body_bytes``
  for everything else;
- a JSON body nested deeper than ``security.max_json_depth`` or with an array longer than
  ``security.max_json_array_items`` is 413 (FHIR resources nest a few dozen levels; a 10,000-level
  body would otherwise reach a recursive parser or validator);
- bodies above ``security.large_body_bytes`` are read and handled at most
  ``security.max_large_bodies`` at a time; others wait for a slot up to
  ``security.large_body_wait_seconds``, then get 503 with ``Retry-After``. Memory for bodies is so
  bounded by about ``max_large_bodies x max_body_bytes`` plus the small ones.

Intake (``/notifications...``) gets the size and large-body limits here, and the JSON checks
(depth and array length, 413; NUL, 400) from :mod:`app.intake.limits` on its one parse of the body,
after the sender is authenticated: the byte scan below cost ~80 us of a notification's CPU.

The body is read once here and replayed to the route, so the route's own reading is unchanged.
``POST /notifications`` (``direct``) is then handed straight to its ASGI endpoint
(:func:`app.api.notifications.post_notification_asgi`) instead of the router: the same answers,
without FastAPI's routing, dependency solving and exception-middleware layers, whose per-request
reference cycles also made the collector run every ~8 requests (bench/README.md Notes, 2026-12-07).
The depth check scans bytes (strings removed by one regular expression, then brackets counted), so
it costs microseconds for a notification and never recurses; the array check parses only bodies
big enough to hold that many items.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import orjson

from app.api.outcomes import outcome_response
from app.intake.limits import json_depth, longest_array
from app.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

INTAKE_PREFIX = "/notifications"
#: Where the body read (and size-checked: the intake limit) is left for the direct intake endpoint.
BODY_KEY = "claimbridge.body"


class LimitExceeded(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def json_problem(body: bytes, *, max_depth: int, max_items: int) -> str | None:
    if body.lstrip()[:1] not in (b"{", b"["):
        return None
    if len(body) > max_depth and json_depth(body) > max_depth:
        return f"JSON body nested deeper than {max_depth} levels"
    if len(body) > 2 * max_items:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None  # the route says what is wrong with it
        if longest_array(parsed) > max_items:
            return f"JSON body has an array of more than {max_items} items"
    return None


class RequestLimits:
    """``direct``: endpoints by (method, path) that get the checked request without the router (intake)."""

    def __init__(
        self, app: ASGIApp, *, settings: Settings, direct: Mapping[tuple[str, str], ASGIApp] | None = None
    ) -> None:
        self.app = app
        self.direct = direct or {}
        self.security = settings.security
        self.intake_limit = settings.intake.max_body_bytes
        self._slots: dict[int, asyncio.Semaphore] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self.check_target(scope)
            limit = self.intake_limit if scope["path"].startswith(INTAKE_PREFIX) else self.security.max_body_bytes
            declared = self.declared_length(scope)
            if declared is not None and declared > limit:
                raise LimitExceeded(413, f"request body larger than {limit} bytes")
            target = self.direct.get((scope["method"], scope["path"]), self.app)
            if declared == 0 or (declared is None and scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS")):
                await target(scope, receive, send)
                return
            large = declared is not None and declared > self.security.large_body_bytes
            if large:
                await self.acquire()
            try:
                body, late_large = await self.read(receive, limit, counted=large)
                large = large or late_large
                if not scope["path"].startswith(INTAKE_PREFIX):  # intake: the same checks on its one parse
                    self.check_body(body)
                elif target is not self.app:
                    scope[BODY_KEY] = body  # the direct intake endpoint takes it from here (no replayed stream)
                await target(scope, replay(body, receive), send)
            finally:
                if large:
                    self.slots().release()
        except LimitExceeded as exc:
            response = outcome_response(exc.status, exc.message, headers=exc.headers)
            await response(scope, receive, send)

    def check_body(self, body: bytes) -> None:
        security = self.security
        problem = json_problem(body, max_depth=security.max_json_depth, max_items=security.max_json_array_items)
        if problem:
            raise LimitExceeded(413, problem)
        if b"\\u0000" in body:
            raise LimitExceeded(400, "NUL characters (\\u0000) are not allowed in the body")

    @staticmethod
    def check_target(scope: Scope) -> None:
        query: bytes = scope.get("query_string", b"")
        if "\x00" in scope["path"] or b"\x00" in query or b"%00" in query:
            raise LimitExceeded(400, "NUL characters are not allowed in the path or query")

    @staticmethod
    def declared_length(scope: Scope) -> int | None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                text = value.decode("latin-1").strip()
                if not text.isdigit():
                    raise LimitExceeded(400, "invalid Content-Length")
                return int(text)
        return None

    async def read(self, receive: Receive, limit: int, *, counted: bool) -> tuple[bytes, bool]:
        """The whole body; takes a large-body slot when a chunked body grows past the threshold."""
        chunks: list[bytes] = []
        size, took = 0, False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise LimitExceeded(400, "client disconnected before sending the body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise LimitExceeded(413, f"request body larger than {limit} bytes")
            if not counted and not took and size > self.security.large_body_bytes:
                await self.acquire()
                took = True
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), took

    def slots(self) -> asyncio.Semaphore:
        key = id(asyncio.get_running_loop())
        if key not in self._slots:
            self._slots[key] = asyncio.Semaphore(self.security.max_large_bodies)
        return self._slots[key]

    async def acquire(self) -> None:
        slots = self.slots()
        if not slots.locked():
            await slots.acquire()  # a free slot: taken without waiting
            return
        try:
            await asyncio.wait_for(slots.acquire(), timeout=self.security.large_body_wait_seconds)
        except TimeoutError:
            raise LimitExceeded(503, "too many large requests in flight; retry later", {"Retry-After": "1"}) from None


def replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again
