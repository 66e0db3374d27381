"""Group commit at intake: concurrent requests all stored once; a failed batch stores nothing, answers 503."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
from sqlalchemy import func, select, text

from app.api.app import create_app
from app.db.models import Inbox, Job
from tests.spine.helpers import SECRET, expand, make_services, notification, register, sample_bundles

HEADERS = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


def counts(services) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    expand(services.engine)  # the worker's expansion duty: the jobs of the acknowledged rows
    with services.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(Inbox)).scalar_one(),
            conn.execute(select(func.count()).select_from(Job)).scalar_one(),
        )


async def post_all(app, bodies: list[bytes]) -> list[int]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
        responses = await asyncio.gather(*(client.post("/notifications", content=b, headers=HEADERS) for b in bodies))
    return [r.status_code for r in responses]


def test_concurrent_notifications_and_duplicates_inside_one_batch(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    app = create_app(services)
    bundles = sample_bundles(10)
    bodies = [orjson.dumps(notification(b, i)) for i, b in enumerate(bundles, start=1)]
    statuses = asyncio.run(post_all(app, bodies + bodies))  # every notification twice, all at once
    assert sorted(statuses) == [200] * 10 + [202] * 10
    assert counts(services) == (10, 10)
    services.close()


def test_a_failed_batch_answers_503_and_stores_nothing(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    app = create_app(services)
    body = orjson.dumps(notification(sample_bundles(1)[0], 1))
    with services.engine.begin() as conn:
        conn.execute(text("ALTER TABLE job RENAME TO job_away"))
    statuses = asyncio.run(post_all(app, [body]))
    with services.engine.begin() as conn:
        conn.execute(text("ALTER TABLE job_away RENAME TO job"))
    assert statuses == [503]
    assert counts(services) == (0, 0)
    assert asyncio.run(post_all(app, [body])) == [202]  # the sender's retry is stored
    assert counts(services) == (1, 1)
    services.close()
