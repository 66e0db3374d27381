"""The credential throttle is shared by every API process: two apps on one database count together.

Wrong admin tokens, wrong subscription secrets and wrong console passwords, each sent half to one
app instance and half to another (each with its own services, as two processes have), reach the
limit as if sent to one; the table stays bounded. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.db import throttle_repo
from app.services import Services
from app.throttle import SharedThrottle
from tests.spine.helpers import ADMIN, SECRET, SetClock, make_services, register
from tests.web.helpers import PASSWORD, add_user, csrf_of

WINDOW = 60
LIMITS = {
    "security": {"throttle_failures": 3, "throttle_window_seconds": WINDOW},
    "web": {"sign_in_account_failures": 2, "sign_in_client_failures": 50, "sign_in_window_seconds": WINDOW},
}


@pytest.fixture
def clock() -> SetClock:
    return SetClock(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))


@pytest.fixture
def two(db_url: str, tmp_path: Path, clock: SetClock) -> Iterator[tuple[TestClient, TestClient]]:
    """Two app instances, each on services of its own, over one database."""
    first = make_services(db_url, tmp_path / "a", clock=clock, **LIMITS)
    second = make_services(db_url, tmp_path / "b", clock=clock, **LIMITS)
    register(first)
    add_user(first, "vera", "viewer")
    try:
        with (
            TestClient(create_app(first), base_url="https://testserver") as a,
            TestClient(create_app(second), base_url="https://testserver") as b,
        ):
            yield a, b
    finally:
        first.close()
        second.close()


def claims(client: TestClient, token: str) -> httpx.Response:
    return client.get("/api/claims", headers={"Authorization": f"Bearer {token}"})


def notify(client: TestClient, secret: str) -> int:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/fhir+json"}
    return client.post("/notifications", content=b"{}", headers=headers).status_code


def test_wrong_admin_tokens_count_across_two_apps(two: tuple[TestClient, TestClient], clock: SetClock) -> None:
    a, b = two
    assert claims(a, ADMIN).status_code == 200 and claims(b, ADMIN).status_code == 200  # both checked: clean
    assert [claims(a, "wrong-1").status_code, claims(a, "wrong-2").status_code] == [401, 401]
    assert claims(b, "wrong-3").status_code == 401  # the third, on the other process
    for app in (a, b):  # either process now refuses even the right token
        refused = claims(app, ADMIN)
        assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= WINDOW + 1
    clock.now += timedelta(seconds=WINDOW + 1)
    assert claims(a, ADMIN).status_code == 200 and claims(b, ADMIN).status_code == 200


def test_wrong_subscription_secrets_count_across_two_apps(two: tuple[TestClient, TestClient]) -> None:
    a, b = two
    assert notify(a, "wrong-subscription-secret-1") == 401
    assert notify(b, "wrong-subscription-secret-2") == 401
    assert notify(a, "wrong-subscription-secret-3") == 401
    assert notify(b, SECRET) == 429  # the right secret waits out the window on every process
    assert claims(b, ADMIN).status_code == 429  # admin tokens and secrets share the address's count


def sign_in(client: TestClient, name: str, password: str) -> httpx.Response:
    client.cookies.clear()
    page = client.get("/console/login")
    data = {"csrf": csrf_of(page.text), "name": name, "password": password}
    return client.post("/console/login", data=data, follow_redirects=False)


def test_wrong_console_passwords_count_across_two_apps(two: tuple[TestClient, TestClient]) -> None:
    a, b = two
    assert sign_in(a, "vera", "wrong password 1").status_code == 401
    assert sign_in(b, "vera", "wrong password 2").status_code == 401
    refused = sign_in(a, "vera", PASSWORD)
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_the_counters_stay_bounded_and_forget_ended_windows(db_url: str, tmp_path: Path, clock: SetClock) -> None:
    services: Services = make_services(db_url, tmp_path, clock=clock)
    try:
        throttle = SharedThrottle(
            engine=services.engine,
            scope="test",
            limit=2,
            window=WINDOW,
            max_keys=10,
            digest=lambda key: key,
            clock=lambda: clock.now.timestamp(),
        )
        for i in range(40):
            throttle.failed(f"10.0.0.{i}")
        with services.engine.connect() as conn:
            assert throttle_repo.count(conn, "test") == 10
            assert throttle_repo.state(conn, "test", "10.0.0.0") is None  # the oldest went first
        throttle.failed("10.0.0.39")
        assert throttle.retry_after("10.0.0.39") == WINDOW
        clock.now += timedelta(seconds=WINDOW + 1)
        assert throttle.retry_after("10.0.0.39") is None
        throttle.failed("fresh")
        with services.engine.connect() as conn:
            assert throttle_repo.count(conn, "test") == 1  # ended windows are dropped
    finally:
        services.close()
