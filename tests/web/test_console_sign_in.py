"""The console sign-in throttle: wrong passwords per account and per client address, then a 429 page.

On SQLite and PostgreSQL through the real app (the counters and the accounts are rows; two apps on one
database: tests/api/test_shared_throttle.py). Each test starts with no counters; the clock is the
module's settable clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from app.api.app import create_app
from app.db.models import CredentialFailure
from app.services import Services
from tests.spine.helpers import make_services
from tests.web.conftest import Clock
from tests.web.helpers import PASSWORD, add_user, csrf_of

WINDOW = 60


@pytest.fixture(scope="module")
def services(module_db_url: str, tmp_path_factory: pytest.TempPathFactory, module_clock: Clock) -> Iterator[Services]:
    svc = make_services(
        module_db_url,
        tmp_path_factory.mktemp("sign-in"),
        clock=module_clock,
        web={"sign_in_account_failures": 2, "sign_in_client_failures": 3, "sign_in_window_seconds": WINDOW},
    )
    add_user(svc, "vera", "viewer")
    add_user(svc, "eng", "engineer")
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services, clock: Clock) -> Iterator[TestClient]:
    with services.engine.begin() as conn:
        conn.execute(delete(CredentialFailure))
    with TestClient(create_app(services), base_url="https://testserver") as c:
        yield c


def attempt(client: TestClient, name: str, password: str) -> httpx.Response:
    client.cookies.clear()
    page = client.get("/console/login")
    data = {"csrf": csrf_of(page.text), "name": name, "password": password}
    return client.post("/console/login", data=data, follow_redirects=False)


def test_wrong_passwords_for_one_account_are_refused_until_the_window_ends(client: TestClient, clock: Clock) -> None:
    assert attempt(client, "vera", "wrong password 1").status_code == 401
    assert attempt(client, "vera", "wrong password 2").status_code == 401
    refused = attempt(client, "vera", PASSWORD)  # even the right password: the window is the cost
    assert refused.status_code == 429 and "Too many sign-in attempts" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= WINDOW + 1
    assert attempt(client, "eng", PASSWORD).status_code == 303  # another account from this client still may
    clock.now += timedelta(seconds=WINDOW + 1)
    assert attempt(client, "vera", PASSWORD).status_code == 303


def test_wrong_passwords_from_one_client_are_refused_whatever_the_account(client: TestClient, clock: Clock) -> None:
    for name in ("alice", "bob", "vera"):  # one wrong password each: no account reaches its limit
        assert attempt(client, name, "not the password").status_code == 401
    refused = attempt(client, "eng", PASSWORD)
    assert refused.status_code == 429 and "try again in" in refused.text
    clock.now += timedelta(seconds=WINDOW + 1)
    assert attempt(client, "eng", PASSWORD).status_code == 303


def test_a_right_password_clears_the_account_count(client: TestClient) -> None:
    assert attempt(client, "vera", "wrong password").status_code == 401
    assert attempt(client, "vera", PASSWORD).status_code == 303
    assert attempt(client, "vera", "wrong again").status_code == 401
    assert attempt(client, "vera", PASSWORD).status_code == 303  # one failure since the last success
