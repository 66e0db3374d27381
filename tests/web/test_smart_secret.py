"""SMART client secrets at rest: encrypted with the configured key, and the confidential-client flow still works.

On SQLite and PostgreSQL against the test EHR (authlib authorization server on a real port), with a
``security.secret_key`` of the test's own (not the development default), so a path that forgot the
configured key and fell back to the default could not decrypt.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.api.app import create_app
from app.credentials import DEVELOPMENT_KEYS, CredentialError, SecretKeys
from app.db import web_repo
from app.db.engine import read_only
from app.db.sql import utcnow
from tests.web.conftest import Clock
from tests.web.smart_ehr import Client
from tests.web.smart_env import CLIENT_ID, SmartEnv, smart_env
from tests.web.test_smart import launch, sign_in_at_ehr

MASTER = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def env(module_db_url: str, tmp_path_factory: pytest.TempPathFactory, module_clock: Clock) -> Iterator[SmartEnv]:
    tmp = tmp_path_factory.mktemp("smart-secret")
    with smart_env(module_db_url, tmp, clock=module_clock, security={"secret_key": MASTER}) as e:
        yield e


def test_the_client_secret_is_stored_encrypted_and_the_confidential_flow_works(env: SmartEnv) -> None:
    secret = secrets.token_urlsafe(24)
    env.ehr.add_client(Client(CLIENT_ID, [f"{env.app_base}/smart/callback"], "client_secret_basic", secret=secret))
    keys = SecretKeys(MASTER)
    with env.services.engine.begin() as conn:
        web_repo.set_smart_app(
            conn,
            ehr="test-ehr",
            client_id=CLIENT_ID,
            client_secret=secret,
            key_path=None,
            scopes="launch openid fhirUser",
            now=utcnow(),
            keys=keys,
        )
    with read_only(env.services.engine) as conn:
        column = conn.execute(text("SELECT client_secret FROM smart_app WHERE ehr = 'test-ehr'")).scalar_one()
        assert web_repo.get_smart_app(conn, "test-ehr", keys=keys).client_secret == secret  # type: ignore[union-attr]
        with pytest.raises(CredentialError):
            web_repo.get_smart_app(conn, "test-ehr", keys=DEVELOPMENT_KEYS)
    assert column.startswith("fernet:") and secret not in column

    with TestClient(create_app(env.services), base_url="https://testserver") as client:
        done = client.get(sign_in_at_ehr(launch(client, env)), follow_redirects=False)
        assert done.status_code == 303, done.text  # the EHR took the secret (client_secret_basic)
        assert client.get("/smart/app").status_code == 200
    sent = env.ehr.token_requests[-1]
    assert "client_assertion" not in sent and "client_id" not in sent
