"""One ASGI request straight into an app or middleware (no server, no client): status and body parts."""

from __future__ import annotations

from typing import Any


async def asgi_post(app: Any, path: str, body: bytes, method: str = "POST") -> tuple[int, list[bytes]]:
    scope = {"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": [(b"content-length", str(len(body)).encode())]}  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"]), [m["body"] for m in sent[1:]]
