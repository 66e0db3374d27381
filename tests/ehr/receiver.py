"""A notification receiver for tests: records every request the test EHR delivers to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """An ASGI app answering ``status`` (default 200) and keeping what it received."""

    status: int = 200
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = FastAPI(openapi_url=None)
        self.app.add_api_route("/{path:path}", self._record, methods=["POST", "PUT", "DELETE"])

    async def _record(self, path: str, request: Request) -> Response:
        raw = await request.body()
        body = orjson.loads(raw) if raw else None
        self.received.append(Received(request.method, f"/{path}", dict(request.headers), body))
        return Response(status_code=self.status)

    def bundles(self) -> list[dict[str, Any]]:
        return [r.body for r in self.received if isinstance(r.body, dict) and r.body.get("resourceType") == "Bundle"]


def status_parameters(bundle: dict[str, Any]) -> dict[str, Any]:
    """The status Parameters of a notification Bundle as {name: value} (events as a list of dicts)."""
    out: dict[str, Any] = {"notification-event": []}
    for param in bundle["entry"][0]["resource"]["parameter"]:
        if param["name"] == "notification-event":
            out["notification-event"].append({p["name"]: _value(p) for p in param["part"]})
        else:
            out[param["name"]] = _value(param)
    return out


def _value(param: dict[str, Any]) -> Any:
    return next(v for k, v in param.items() if k.startswith("value"))
