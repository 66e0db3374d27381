"""Bad input is a 4xx OperationOutcome on every route (never a 500 or a plain-text body), and bodies are
bounded: size, JSON depth, array length, and how many large bodies are in flight at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.api.limits import RequestLimits, json_depth
from app.domain.claim_status import ClaimStatus
from app.services import Services
from app.settings import Settings
from tests.api.asgi import asgi_post
from tests.spine.helpers import ADMIN, SECRET, make_services, register

ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
INTAKE = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/fhir+json"}
HUGE = str(2**64)


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc)
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as c:
        yield c


def outcome(response: Any, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


BAD_INPUT = [
    ("GET", f"/api/claims?offset={HUGE}"),
    ("GET", f"/api/encounters?offset={HUGE}"),
    ("GET", f"/api/audit?after={HUGE}"),  # a 2^79 cursor overflowed BIGINT: 500 before the bound
    ("POST", f"/api/claims/c1/findings/{HUGE}/override"),
    ("POST", f"/api/dead-letters/{HUGE}/replay"),
    ("POST", f"/api/inbox/{HUGE}/replay"),
    ("POST", f"/api/outbox/{HUGE}/replay"),
    ("POST", "/api/inbox/-1/replay"),
    ("GET", f"/api/inbox/dead?limit={HUGE}"),
    ("GET", "/api/outbox/dead?limit=0"),
    ("POST", f"/api/gaps/{HUGE}/retry"),
    ("POST", f"/api/denials/{HUGE}"),
    ("POST", f"/api/x12/quarantine/{HUGE}/release"),
    ("GET", "/api/kpis?start=0001-01-01"),
    ("GET", "/api/kpis?end=9999-12-31"),
    ("GET", "/api/kpis?as_of=9999-12-31"),
    ("GET", "/api/claims?status=bogus"),
    ("GET", "/api/findings?severity=bogus"),
    ("GET", "/api/gaps?status=bogus"),
    ("GET", "/api/claims/a%00b"),
    ("GET", "/api/encounters/a%00b"),
    ("GET", "/api/claims?payer=a%00b"),
    ("GET", f"/api/claims/{'c' * 201}/balance"),  # ids longer than any stored one: 400 before the database
    ("GET", f"/api/patients/{'p' * 201}/balance"),
]


def test_out_of_range_and_nul_input_is_400(client: TestClient) -> None:
    wrong = []
    for method, path in BAD_INPUT:  # one app per database: each case costs a request, not a fixture
        body = {"reason": "checked", "status": "closed"} if method == "POST" else None
        response = client.request(method, path, headers=ADMIN_AUTH, json=body)
        kind = response.headers.get("content-type", "")
        if response.status_code != 400 or not kind.startswith("application/fhir+json"):
            wrong.append((method, path, response.status_code, response.text[:120]))
    assert wrong == []


def test_nul_in_an_admin_body_is_400(client: TestClient) -> None:
    body = b'{"reason": "checked \\u0000 with the payer"}'
    response = client.post("/api/claims/c1/findings/1/override", content=body, headers=ADMIN_AUTH)
    assert "NUL" in outcome(response, 400)


def test_nul_in_an_intake_path_is_400_and_stores_nothing(client: TestClient) -> None:
    response = client.put("/notifications/Patient/a%00b", content=b'{"resourceType":"Patient"}', headers=INTAKE)
    outcome(response, 400)


def test_framework_errors_are_operation_outcomes(client: TestClient) -> None:
    outcome(client.get("/no/such/route", headers=ADMIN_AUTH), 404)
    outcome(client.delete("/api/claims", headers=ADMIN_AUTH), 405)
    outcome(client.get("/api/claims?limit=0", headers=ADMIN_AUTH), 400)
    outcome(client.get("/api/claims/nope", headers=ADMIN_AUTH), 404)
    unknown = outcome(client.get("/api/claims?status=sent", headers=ADMIN_AUTH), 400)
    assert "status" in unknown and all(f"'{s}'" in unknown for s in ClaimStatus), unknown  # the allowed values
    outcome(client.post("/api/claims/c1/findings/1/override", headers=ADMIN_AUTH, content=b"{bad"), 400)


def test_metrics_are_text_plain_and_documented_so(client: TestClient) -> None:
    response = client.get("/metrics", headers=ADMIN_AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    spec = client.get("/openapi.json").json()
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    claims = spec["paths"]["/api/claims"]["get"]
    assert {"400", "401", "404"} <= set(claims["responses"]) and "422" not in claims["responses"]
    status = next(p for p in claims["parameters"] if p["name"] == "status")
    assert "#/components/schemas/ClaimStatus" in str(status["schema"])  # the enum is typed
    assert "held" in spec["components"]["schemas"]["ClaimStatus"]["enum"]


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_a_10000_level_body_is_refused_fast_on_every_kind_of_route(client: TestClient) -> None:
    body = nested(10_000)
    started = time.perf_counter()
    for path, headers in (
        ("/notifications", INTAKE),
        ("/api/claims/c1/findings/1/override", {**ADMIN_AUTH, "Content-Type": "application/json"}),
        ("/api/x12/submit", {"Content-Type": "application/json"}),  # before authentication: costs nothing
    ):
        assert "deeper than 64" in outcome(client.post(path, content=body, headers=headers), 413)
    assert time.perf_counter() - started < 60  # a hang guard (a parser recursing 10,000 deep), not a speed claim
    # intake checks the body on its one parse, after the credential: a stranger's body is never parsed
    stranger = {**INTAKE, "Authorization": "Bearer nope"}
    assert client.post("/notifications", content=body, headers=stranger).status_code == 401
    assert json_depth(b'{"a": "[[[[[[[[[[\\"]]]]", "b": [[1]]}') == 3  # brackets in strings do not count


def test_a_100000_entry_bundle_is_refused(client: TestClient, services: Services) -> None:
    entry = {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Basic", "id": "b"}}
    body = orjson.dumps({"resourceType": "Bundle", "type": "history", "entry": [entry] * 100_000})
    assert len(body) > services.settings.intake.max_body_bytes  # refused by its size alone ...
    outcome(client.post("/notifications", content=body, headers=INTAKE), 413)
    small = orjson.dumps({"resourceType": "Bundle", "type": "history", "entry": [{}] * 100_000})
    assert len(small) < services.settings.intake.max_body_bytes  # ... and by its length when it fits
    assert "more than 20000 items" in outcome(client.post("/notifications", content=small, headers=INTAKE), 413)


def test_chunked_bodies_past_the_limit_are_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 50_000

    response = client.post("/api/x12/submit", content=chunks(), headers=ADMIN_AUTH)
    assert "larger than 1000000 bytes" in outcome(response, 413)


def test_large_bodies_in_flight_are_capped() -> None:
    settings = Settings(
        env="test", security={"large_body_bytes": 1024, "max_large_bodies": 1, "large_body_wait_seconds": 0}
    )
    entered: asyncio.Queue[int] = asyncio.Queue()
    release = asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        body = (await receive())["body"]
        entered.put_nowait(len(body))
        await release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limits = RequestLimits(slow_app, settings=settings)

    async def call(size: int) -> int:
        return (await asgi_post(limits, "/api/x", b"x" * size))[0]

    async def scenario() -> tuple[int, int, int, int]:
        first = asyncio.create_task(call(4096))
        assert await entered.get() == 4096  # the large body holds the only slot
        second = await call(4096)  # another large one: 503 at once (wait 0)
        small = asyncio.create_task(call(100))
        assert await entered.get() == 100  # small bodies never wait for a slot
        release.set()
        third_small = await small
        done = await first
        return second, third_small, done, await call(4096)  # the slot is free again

    assert asyncio.run(scenario()) == (503, 204, 204, 204)
