"""Intake's success path reads the shared credential throttle once, not once per request in flight."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import event

from app.api.app import create_app
from tests.spine.helpers import SECRET, make_services, notification, register, sample_bundles

HEADERS = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


def test_concurrent_notifications_from_one_address_share_one_throttle_read(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    app = create_app(services)
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "credential_failure" in statement and statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    event.listen(services.engine, "before_cursor_execute", count)
    bodies = [orjson.dumps(notification(b, i)) for i, b in enumerate(sample_bundles(12), start=1)]

    async def post_all() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            answers = await asyncio.gather(*(client.post("/notifications", content=b, headers=HEADERS) for b in bodies))
        return [r.status_code for r in answers]

    assert asyncio.run(post_all()) == [202] * 12
    assert len(reads) == 1  # the twelve requests found the memory empty together: one read
    event.remove(services.engine, "before_cursor_execute", count)
    services.close()
