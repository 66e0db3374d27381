"""Subscription status: ``requested`` until the handshake, ``active`` after, ``error``/``off`` as reported.

Over HTTP on SQLite and PostgreSQL, with the Subscriptions IG's own handshake and heartbeat examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.db import intake_repo, subscriptions_repo
from app.db.sql import utcnow
from app.intake.notification import Notification
from app.services import Services
from tests.spine.helpers import SECRET, make_services, register

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"
AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc)
    yield svc
    svc.close()


def status_of(engine: Engine, sid: str = "123") -> str:
    with engine.connect() as conn:
        return next(r["status"] for r in subscriptions_repo.list_subscriptions(conn) if r["id"] == sid)


def bundle(name: str, *, status: str | None = None, number: int | None = None) -> bytes:
    """Fixture ``name`` with the reported status (and bundle id) changed."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    params = data["entry"][0]["resource"]["parameter"]
    for p in params:
        if p["name"] == "status" and status is not None:
            p["valueCode"] = status
    if number is not None:
        data["id"] = f"{data.get('id', 'b')}-{number}"
    return json.dumps(data).encode()


def test_registered_subscription_is_requested_until_its_handshake(client: TestClient, services: Services) -> None:
    assert status_of(services.engine) == "requested"
    heartbeat = client.post("/notifications", content=bundle("heartbeat_bundle_example.json", status="requested"),
                            headers=AUTH)  # fmt: skip
    assert heartbeat.status_code == 200
    assert status_of(services.engine) == "requested"  # a heartbeat that says requested is no handshake
    handshake = client.post("/notifications", content=bundle("handshake_bundle_example.json"), headers=AUTH)
    assert handshake.status_code == 200
    assert status_of(services.engine) == "active"  # the fixture says requested; our 2xx completes it


@pytest.mark.parametrize("reported", ["error", "off"])
def test_error_and_off_are_stored_as_reported(client: TestClient, services: Services, reported: str) -> None:
    client.post("/notifications", content=bundle("handshake_bundle_example.json"), headers=AUTH)
    response = client.post("/notifications", content=bundle("heartbeat_bundle_example.json", status=reported),
                           headers=AUTH)  # fmt: skip
    assert response.status_code == 200
    assert status_of(services.engine) == reported
    client.post("/notifications", content=bundle("heartbeat_bundle_example.json", status="active", number=2),
                headers=AUTH)  # fmt: skip
    assert status_of(services.engine) == "active"


def test_plain_r4_ping_turns_requested_active_but_not_error(client: TestClient, services: Services) -> None:
    assert client.post("/notifications", content=b"", headers=AUTH).status_code in (200, 202)
    assert status_of(services.engine) == "active"
    client.post("/notifications", content=bundle("heartbeat_bundle_example.json", status="error"), headers=AUTH)
    client.post("/notifications", content=b"", headers=AUTH)
    assert status_of(services.engine) == "error"


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ([("heartbeat", "requested")], "requested"),
        ([("handshake", "requested")], "active"),
        ([("handshake", "error")], "error"),
        ([("heartbeat", "requested"), ("ping", None)], "active"),
        ([("ping", None), ("heartbeat", "requested")], "requested"),
        ([("heartbeat", "off"), ("ping", None)], "off"),
        ([("ping", None)], "active"),
    ],
)
def test_a_batch_leaves_the_status_one_by_one_updates_would(
    services: Services, reported: list[tuple[str, str | None]], expected: str
) -> None:
    notes = [Notification(kind=kind, subscription_id=None, status=status) for kind, status in reported]
    register(services, "batched", secret="secret-batched-0123456789")
    register(services, "single", secret="secret-single-0123456789")
    with services.engine.begin() as conn:
        batch = intake_repo.IntakeBatch(conn, utcnow())
        for note in notes:
            batch.store("batched", note, b"", None)
        batch.finish()
    for note in notes:
        with services.engine.begin() as conn:
            one = intake_repo.IntakeBatch(conn, utcnow())
            one.store("single", note, b"", None)
            one.finish()
    assert status_of(services.engine, "batched") == status_of(services.engine, "single") == expected
