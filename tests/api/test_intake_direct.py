"""``POST /notifications`` is handed to its endpoint by the request-limits middleware, not the router.

The answers are those of the route (tests/api/test_intake_api.py and the spine tests run through the
app); these tests pin the dispatch itself and the process's collector settings after start-up.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from starlette.requests import Request
from structlog.testing import capture_logs

from app.api.limits import RequestLimits
from app.api.outcomes import DIRECT_ROUTE, unhandled_error_handler
from app.heap import YOUNG_THRESHOLD, settle_heap
from app.metrics import Metrics
from app.settings import Settings
from tests.api.asgi import asgi_post


def call(app: Any, method: str, path: str, body: bytes) -> tuple[int, list[str]]:
    status, parts = asyncio.run(asgi_post(app, path, body, method))
    return status, [p.decode() for p in parts]


def answering(name: str, seen: list[str]) -> Any:
    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        body = (await receive())["body"]  # the body the middleware read, replayed
        seen.append(f"{name} {scope['method']} {scope['path']}")
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return endpoint


def test_direct_endpoint_gets_the_checked_request_and_the_router_the_rest() -> None:
    seen: list[str] = []
    limits = RequestLimits(
        answering("router", seen),
        settings=Settings(env="test"),
        direct={("POST", "/notifications"): answering("direct", seen)},
    )
    assert call(limits, "POST", "/notifications", b'{"a":1}') == (202, ['{"a":1}'])
    assert call(limits, "PUT", "/notifications", b"{}")[0] == 202
    assert call(limits, "POST", "/notifications/Encounter/e1", b"{}")[0] == 202
    assert call(limits, "POST", "/notifications", b"")[0] == 202  # Content-Length 0: not read, still direct
    assert seen == [
        "direct POST /notifications",
        "router PUT /notifications",
        "router POST /notifications/Encounter/e1",
        "direct POST /notifications",
    ]


def test_direct_endpoint_keeps_the_limits() -> None:
    seen: list[str] = []
    settings = Settings(env="test", intake={"max_body_bytes": 1024})
    limits = RequestLimits(
        answering("router", seen), settings=settings, direct={("POST", "/notifications"): answering("direct", seen)}
    )
    status, body = call(limits, "POST", "/notifications", b"x" * 1025)
    assert status == 413 and "larger than 1024 bytes" in body[0]
    assert seen == []


def test_received_notifications_are_counted_by_type() -> None:
    metrics = Metrics()
    for kind in ("event-notification", "event-notification", "heartbeat"):
        metrics.count_received(kind)
    text = metrics.render().decode()
    assert 'claimbridge_notifications_received_total{type="event-notification"} 2.0' in text
    assert 'claimbridge_notifications_received_total{type="heartbeat"} 1.0' in text


def test_settle_heap_freezes_start_up_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_an_unexpected_error_on_a_direct_endpoint_logs_its_route() -> None:
    """The router sets ``scope["route"]``; the direct endpoint names its path for the 500 log instead."""
    scope = {"type": "http", "method": "POST", "path": "/notifications", "headers": [], DIRECT_ROUTE: "/notifications"}
    with capture_logs() as logs:
        response = asyncio.run(unhandled_error_handler(Request(scope), RuntimeError("boom")))
    assert response.status_code == 500
    assert [(e["event"], e["route"]) for e in logs] == [("api.unhandled", "/notifications")]
