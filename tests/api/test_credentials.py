"""Subscription credentials at rest (keyed digest, encrypted signing secret, legacy rows upgraded) and
the throttle on wrong credentials (per address; shared and bounded: test_shared_throttle)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.app import create_app
from app.credentials import ENCRYPTED_PREFIX, SecretKeys, secret_problem
from app.db.models import Subscription
from app.services import Services
from tests.spine.helpers import ADMIN, make_services, register

SECRET = "a-strong-subscription-secret-01"
SIGNING = "a-strong-signing-secret-0123456"
KEY = "a-32-character-key-for-this-test-0"
HEARTBEAT = (
    Path(__file__).resolve().parents[1] / "fixtures" / "conformance" / "heartbeat_bundle_example.json"
).read_bytes()


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, security={"secret_key": KEY, "throttle_failures": 3})
    yield svc
    svc.close()


def stored(services: Services) -> tuple[str, str | None]:
    with services.engine.connect() as conn:
        row = conn.execute(select(Subscription.secret_sha256, Subscription.signing_secret)).one()
    return row[0], row[1]


def post(client: TestClient, secret: str, body: bytes = HEARTBEAT, signing: str | None = SIGNING) -> int:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/fhir+json"}
    if signing:
        headers["X-Signature"] = hmac.new(signing.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/notifications", content=body, headers=headers).status_code


def test_secrets_are_stored_keyed_and_encrypted_and_still_authenticate(services: Services) -> None:
    keys = SecretKeys(KEY)
    register(services, secret=SECRET, signing_secret=SIGNING)
    digest, signing = stored(services)
    assert digest == keys.digest(SECRET) != hashlib.sha256(SECRET.encode()).hexdigest()
    assert signing is not None and signing.startswith(ENCRYPTED_PREFIX) and SIGNING not in signing
    assert keys.decrypt(signing) == SIGNING
    with TestClient(create_app(services)) as client:
        assert post(client, SECRET) == 200
        assert post(client, SECRET, signing="wrong-signing-secret-0123456789") == 401


def test_legacy_rows_authenticate_once_and_are_rewritten(services: Services) -> None:
    register(services, secret=SECRET, signing_secret=None)
    legacy = hashlib.sha256(SECRET.encode()).hexdigest()
    with services.engine.begin() as conn:
        conn.execute(Subscription.__table__.update().values(secret_sha256=legacy, signing_secret=SIGNING))
    with TestClient(create_app(services)) as client:
        assert post(client, SECRET) == 200
    digest, signing = stored(services)
    assert digest == SecretKeys(KEY).digest(SECRET)
    assert signing is not None and signing.startswith(ENCRYPTED_PREFIX)


def test_wrong_credentials_are_throttled_per_address(services: Services) -> None:
    register(services, secret=SECRET, signing_secret=None)
    with TestClient(create_app(services)) as client:
        assert [post(client, f"wrong-{i}", signing=None) for i in range(3)] == [401, 401, 401]
        response = client.get("/api/claims", headers={"Authorization": f"Bearer {ADMIN}"})
        assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
        assert post(client, SECRET, signing=None) == 429  # even the right secret waits out the window
        assert client.get("/api/claims").status_code == 429


@pytest.mark.parametrize(
    ("secret", "ok"),
    [("x", False), ("SAMPLE_TOKEN", False), ("a" * 30, False), ("1" * 12 + "23456789", False), (SECRET, True)],
)
def test_secret_strength(secret: str, ok: bool) -> None:
    assert (secret_problem(secret, min_length=20) is None) is ok
