"""Console sign-in through OpenID Connect, against a test provider built on authlib's server components.

On SQLite and PostgreSQL through the real app; the provider (tests/web/oidc_idp.py) runs under
uvicorn on a free port. Checked on the wire: discovery, PKCE S256, state and nonce, the code
exchange with client_secret_basic, the id_token, the role from the configured claim, the audit
row, and the failure pages.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.db import audit_repo, web_repo
from app.db.engine import read_only
from app.db.sql import utcnow
from app.services import Services, build_services
from app.settings import Settings
from app.web.sessions import hash_password
from tests.spine.helpers import ADMIN, ROOT
from tests.web.conftest import Clock
from tests.web.helpers import PASSWORD, add_user, csrf_of
from tests.web.oidc_idp import OidcProvider
from tests.web.serve import free_port, serving
from tests.web.smart_ehr import Client

APP = "https://testserver"
CLIENT_ID = "claimbridge-console"


@dataclass
class Env:
    services: Services
    idp: OidcProvider


def make_env(db_url: str, tmp: Path, clock: Clock, idp: OidcProvider, secret: str) -> Services:
    settings = Settings(
        env="test",
        database_url=db_url,
        config_dir=ROOT / "config",
        refdata_dir=tmp / "refdata",
        api={"admin_token": ADMIN, "public_base_url": APP},
        adapters={"out_dir": str(tmp / "out")},
        web={
            "oidc_issuer": idp.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": secret,
            "oidc_role_claim": "groups",
            "oidc_roles": {"billing-admins": "admin", "billing": "viewer"},
            "oidc_label": "Test SSO",
        },
    )
    return build_services(settings, clock=clock)


@pytest.fixture(scope="module")
def env(module_db_url: str, tmp_path_factory: pytest.TempPathFactory, module_clock: Clock) -> Iterator[Env]:
    idp, port = OidcProvider(), free_port()
    idp.base = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(24)
    idp.add_client(Client(CLIENT_ID, [f"{APP}/console/oidc/callback"], "client_secret_basic", secret=secret))
    idp.add_person("olive", preferred_username="olive", groups=["engineer"])
    idp.add_person("ada", preferred_username="ada", groups=["billing", "billing-admins"])
    idp.add_person("cook", preferred_username="cook", groups=["cafeteria"])
    services = make_env(module_db_url, tmp_path_factory.mktemp("oidc"), module_clock, idp, secret)
    try:
        with serving(idp.app, port):
            yield Env(services, idp)
    finally:
        services.close()


@pytest.fixture
def client(env: Env, clock: Clock) -> Iterator[TestClient]:
    env.idp.down = False
    with TestClient(create_app(env.services), base_url=APP) as c:
        yield c


def start(client: TestClient, env: Env) -> dict[str, list[str]]:
    response = client.get("/console/oidc/start", follow_redirects=False)
    assert response.status_code == 302, response.text
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{env.idp.base}/authorize"
    return parse_qs(target.query)


def at_provider(env: Env, query: dict[str, list[str]], user: str, decision: str = "allow") -> str:
    """The provider's sign-in form submitted; the callback path + query it redirects to."""
    form = {k: v[0] for k, v in query.items()} | {"username": user, "decision": decision}
    answer = httpx.post(f"{env.idp.base}/authorize", data=form)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{APP}/console/oidc/callback?")
    return location.removeprefix(APP)


def sign_in_events(env: Env, name: str) -> list[tuple[str, str]]:
    with read_only(env.services.engine) as conn:
        events = audit_repo.list_events(conn, limit=100_000)
    return [(e["action"], e["detail"].get("via", "")) for e in events if e["actor"] == name]


def test_an_engineer_signs_in_through_the_provider(client: TestClient, env: Env) -> None:
    login = client.get("/console/login")
    assert 'href="/console/oidc/start"' in login.text and "Sign in with Test SSO" in login.text
    query = start(client, env)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{APP}/console/oidc/callback"] and "openid" in query["scope"][0].split()
    assert query["code_challenge_method"] == ["S256"] and len(query["state"][0]) >= 43 and query["nonce"]
    callback = at_provider(env, query, "olive")
    done = client.get(callback, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/console/"
    olive = f"oidc:{urlsplit(env.idp.issuer).netloc}:olive"  # qualified: its own name space
    assert f"{olive} (engineer)" in client.get("/console/").text
    assert client.get("/console/messages/notifications/1/raw").status_code == 404  # engineer: allowed, none there
    sent = env.idp.token_requests[-1]
    assert sent["code_verifier"] and "client_secret" not in sent  # the secret went as HTTP Basic
    assert sign_in_events(env, olive) == [("sign-in", "oidc")] and sign_in_events(env, "olive") == []
    replayed = client.get(callback)  # the pending sign-in was consumed (and its cookie cleared)
    assert replayed.status_code == 400 and "did not start a single sign-on" in replayed.text


def test_a_local_account_named_like_an_oidc_user_is_not_that_user(client: TestClient, env: Env) -> None:
    olive = f"oidc:{urlsplit(env.idp.issuer).netloc}:olive"
    add_user(env.services, "olive", "viewer")  # a local account with the provider user's plain name
    with env.services.engine.begin() as conn:  # and one made with the qualified name behind the CLI's back
        web_repo.upsert_user(conn, name=olive, password_hash=hash_password(PASSWORD), role="admin", now=utcnow())
    assert password_sign_in(client, olive).status_code == 401  # never a local account, even with its password
    tried = sign_in_events(env, olive)
    assert ("sign-in-failed", "password") in tried and ("sign-in", "password") not in tried
    assert password_sign_in(client, "olive").status_code == 303
    assert "olive (viewer)" in client.get("/console/").text
    assert sign_in_events(env, "olive") == [("sign-in", "password")]  # the local olive, apart from the OIDC one


def password_sign_in(client: TestClient, name: str) -> httpx.Response:
    client.cookies.clear()
    page = client.get("/console/login")
    form = {"csrf": csrf_of(page.text), "name": name, "password": PASSWORD}
    return client.post("/console/login", data=form, follow_redirects=False)


def test_the_role_claim_is_mapped_and_the_highest_role_wins(client: TestClient, env: Env) -> None:
    assert client.get(at_provider(env, start(client, env), "ada"), follow_redirects=False).status_code == 303
    assert "ada (admin)" in client.get("/console/").text


def test_no_role_denied_and_forged_answers_get_pages(client: TestClient, env: Env) -> None:
    nobody = client.get(at_provider(env, start(client, env), "cook"))
    assert nobody.status_code == 403 and "no console role" in nobody.text
    assert client.get("/console/").status_code == 401
    assert sign_in_events(env, f"oidc:{urlsplit(env.idp.issuer).netloc}:cook") == [("sign-in-failed", "oidc")]

    denied = client.get(at_provider(env, start(client, env), "olive", decision="deny"))
    assert denied.status_code == 403 and "Access not granted" in denied.text

    query = start(client, env)
    forged = client.get("/console/oidc/callback", params={"code": "x", "state": query["state"][0] + "x"})
    assert forged.status_code == 400 and "does not match" in forged.text
    client.cookies.clear()
    cold = client.get("/console/oidc/callback", params={"code": "x", "state": "y"})
    assert cold.status_code == 400 and "did not start" in cold.text

    env.idp.down = True
    down = client.get("/console/oidc/start")
    assert down.status_code == 502 and "not answering" in down.text


def test_an_incomplete_oidc_configuration_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="oidc_client_id"):
        Settings(env="test", web={"oidc_issuer": "https://login.example.org"})
    with pytest.raises(ValueError, match="include openid"):
        Settings(
            env="test",
            web={
                "oidc_issuer": "https://x",
                "oidc_client_id": "c",
                "oidc_client_secret": "s" * 20,
                "oidc_scopes": "profile",
            },
        )
