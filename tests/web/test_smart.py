"""SMART App Launch over HTTP against the test EHR (authlib authorization server on a real port).

The browser walk is in test_browser.py; here every step is checked on the wire, on SQLite and
PostgreSQL: PKCE S256, state, aud, the code exchange (public, confidential, private_key_jwt), the
id_token, cookies, the override stored with the fhirUser, and the error pages.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.db import audit_repo, claims_repo, eligibility_repo, web_repo
from app.db.engine import read_only
from app.db.sql import utcnow
from app.fhir.keys import generate_keys, load_signing_key, public_jwks
from app.settings import WebSettings
from tests.web.conftest import Clock
from tests.web.helpers import csrf_of
from tests.web.smart_ehr import Client
from tests.web.smart_env import CLIENT_ID, PRACTITIONER, SmartEnv, smart_env


@pytest.fixture(scope="module")
def module_env(module_db_url: str, tmp_path_factory: pytest.TempPathFactory, module_clock: Clock) -> Iterator[SmartEnv]:
    with smart_env(module_db_url, tmp_path_factory.mktemp("smart"), clock=module_clock) as e:
        yield e


@pytest.fixture
def env(module_env: SmartEnv, clock: Clock) -> Iterator[SmartEnv]:
    """The module's claimbridge and test EHR, with the EHR up and the public client registered."""
    module_env.ehr.down = False
    yield module_env
    module_env.ehr.down = False
    module_env.ehr.add_client(Client(CLIENT_ID, [f"{module_env.app_base}/smart/callback"]))
    with module_env.services.engine.begin() as conn:
        web_repo.set_smart_app(
            conn,
            ehr="test-ehr",
            client_id=CLIENT_ID,
            client_secret=None,
            key_path=None,
            scopes=module_env.services.settings.web.default_scopes,
            now=utcnow(),
        )


@pytest.fixture
def client(env: SmartEnv) -> Iterator[TestClient]:
    with TestClient(create_app(env.services), base_url="https://testserver") as c:
        yield c


def launch(client: TestClient, env: SmartEnv) -> dict[str, list[str]]:
    """Start an EHR launch; the authorize URL's query."""
    response = client.get(env.launch_path(), follow_redirects=False)
    assert response.status_code == 302, response.text
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{env.ehr.base}/auth/authorize"
    return parse_qs(target.query)


def sign_in_at_ehr(query: dict[str, list[str]], *, decision: str = "allow") -> str:
    """The EHR's sign-in form, submitted; the callback path + query it redirects to."""
    form = {k: v[0] for k, v in query.items()} | {"username": "dr.who", "decision": decision}
    url = query["redirect_uri"][0].rsplit("/smart/", 1)[0]
    ehr = query["aud"][0].removesuffix("/fhir")
    answer = httpx.post(f"{ehr}/auth/authorize", data=form)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(url)
    return location.removeprefix(url)


def test_ehr_launch_signs_in_shows_findings_and_records_the_override(
    client: TestClient, env: SmartEnv, clock: Clock
) -> None:
    query = launch(client, env)
    assert query["code_challenge_method"] == ["S256"] and query["aud"] == [env.ehr.iss]
    assert query["scope"] == ["launch openid fhirUser patient/*.rs user/Encounter.rs"]
    assert len(base64.urlsafe_b64decode(query["state"][0] + "==")) >= 16  # >= 128 bits
    launch_cookie = next(c for c in client.cookies.jar if c.name == "cb_launch")
    assert launch_cookie.secure and launch_cookie.has_nonstandard_attr("HttpOnly")

    callback = sign_in_at_ehr(query)
    done = client.get(callback, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/smart/app", done.text
    assert "samesite=lax" in done.headers["set-cookie"].lower()
    exchange = env.ehr.token_requests[-1]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(exchange["code_verifier"].encode()).digest()).rstrip(b"=")
    assert challenge.decode() == query["code_challenge"][0] and exchange["client_id"] == CLIENT_ID
    assert "access_token" not in client.cookies.jar.__repr__()

    page = client.get("/smart/app")
    assert page.status_code == 200
    html = page.text
    assert "Ada Testpatient" in html  # read from the EHR with the user's token
    assert "Encounter enc-005" in html and "coding.modifier-25-missing" in html and "Coder / biller" in html
    assert "No coverage on file" not in html and "99213" in html
    assert "does not answer eligibility requests in real time" in html  # no eligibility endpoint in config/
    assert "No order of this encounter needs prior authorization." in html

    with read_only(env.services.engine) as conn:
        claim_id = claims_repo.list_claims(conn)[0]["id"]
        finding = next(f for f in claims_repo.get_claim(conn, claim_id)["findings"] if f["severity"] == "error")
    form = {"csrf": "forged", "claim": claim_id, "finding": str(finding["id"]), "reason": "separate problem documented"}
    assert client.post("/smart/app/override", data=form).status_code == 403
    saved = client.post("/smart/app/override", data={**form, "csrf": csrf_of(html)}, follow_redirects=False)
    assert saved.status_code == 303
    with read_only(env.services.engine) as conn:
        claim = claims_repo.get_claim(conn, claim_id)
        events = audit_repo.list_events(conn, action="override")
    stored = next(f for f in claim["findings"] if f["id"] == finding["id"])
    assert stored["override"]["by"] == PRACTITIONER and stored["override"]["reason"] == "separate problem documented"
    assert claim["status"] == "ready"
    assert [(e["actor"], e["actor_kind"]) for e in events] == [(PRACTITIONER, "smart")]

    clock.now += timedelta(hours=2)  # the access token (1 h) has expired: the refresh token is used
    assert "Ada Testpatient" in client.get("/smart/app").text
    assert env.ehr.token_requests[-1]["grant_type"] == "refresh_token"

    client.cookies.set("cb_launch", launch_cookie.value)  # the same browser and callback again: consumed
    replay = client.get(callback)
    assert replay.status_code == 400 and "already used" in replay.text


def test_standalone_launch_asks_for_a_patient_instead_of_a_launch_context(client: TestClient, env: SmartEnv) -> None:
    response = client.get("/smart/launch", params={"iss": env.ehr.iss, "standalone": "1"}, follow_redirects=False)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert "launch" not in query and query["scope"][0].split()[0] == "launch/patient"
    assert client.get(sign_in_at_ehr(query), follow_redirects=False).status_code == 303
    page = client.get("/smart/app")
    assert page.status_code == 200 and "Ada Testpatient" in page.text and "none in the launch" in page.text


def test_unknown_iss_and_missing_parameters_get_400_before_any_outbound_call(client: TestClient, env: SmartEnv) -> None:
    seen = len(env.ehr.token_requests)
    unknown = client.get("/smart/launch", params={"iss": "https://evil.example/fhir", "launch": "x"})
    assert unknown.status_code == 400 and "not configured" in unknown.text
    assert client.get("/smart/launch", params={"iss": env.ehr.iss}).status_code == 400
    assert client.get("/smart/launch").status_code == 400
    assert client.get("/smart/app").status_code == 401
    assert len(env.ehr.token_requests) == seen


def test_failure_pages(client: TestClient, env: SmartEnv, clock: Clock) -> None:
    denied = client.get(sign_in_at_ehr(launch(client, env), decision="deny"))
    assert denied.status_code == 403 and "declined" in denied.text

    query = launch(client, env)
    callback = sign_in_at_ehr(query)
    forged = callback.replace(f"state={query['state'][0]}", "state=forged")
    assert client.get(forged).status_code == 400

    query = launch(client, env)
    callback = sign_in_at_ehr(query)
    clock.now += timedelta(seconds=env.services.settings.web.launch_seconds + 1)
    expired = client.get(callback)
    assert expired.status_code == 400 and "expired" in expired.text.lower()

    client.cookies.clear()
    assert client.get(callback).status_code == 400  # no launch started in this browser

    env.ehr.down = True
    down = client.get(env.launch_path())
    assert down.status_code == 502 and "not answering" in down.text


def test_recheck_for_a_payer_without_real_time_eligibility_is_refused_and_nothing_queued(
    client: TestClient, env: SmartEnv
) -> None:
    assert client.get(sign_in_at_ehr(launch(client, env)), follow_redirects=False).status_code == 303
    html = client.get("/smart/app").text
    assert 'action="/smart/app/eligibility"' not in html  # no button to press
    refused = client.post("/smart/app/eligibility", data={"csrf": csrf_of(html)})
    assert refused.status_code == 409 and "does not answer eligibility requests in real time" in refused.text
    with read_only(env.services.engine) as conn:
        assert eligibility_repo.counts(conn) == {}
        assert audit_repo.list_events(conn, action="eligibility-recheck") == []


@pytest.mark.parametrize("method", ["client_secret_basic", "private_key_jwt"])
def test_confidential_clients_exchange_the_code(env: SmartEnv, tmp_path: Path, method: str) -> None:
    private, _ = generate_keys(tmp_path / "keys", "ES384")
    key = load_signing_key(private)
    secret = "s3cret-for-the-test-only"
    redirect = [f"{env.app_base}/smart/callback"]
    if method == "client_secret_basic":
        env.ehr.add_client(Client(CLIENT_ID, redirect, "client_secret_basic", secret=secret))
        values = {"client_secret": secret, "key_path": None}
    else:
        env.ehr.add_client(Client(CLIENT_ID, redirect, "client_assertion_jwt", jwks=public_jwks(key)))
        values = {"client_secret": None, "key_path": str(private)}
    with env.services.engine.begin() as conn:
        web_repo.set_smart_app(
            conn, ehr="test-ehr", client_id=CLIENT_ID, scopes="launch openid fhirUser", now=utcnow(), **values
        )
    with TestClient(create_app(env.services), base_url="https://testserver") as client:
        done = client.get(sign_in_at_ehr(launch(client, env)), follow_redirects=False)
        assert done.status_code == 303, done.text
        assert client.get("/smart/app").status_code == 200
    sent = env.ehr.token_requests[-1]
    assert ("client_assertion" in sent) is (method == "private_key_jwt") and "client_id" not in sent


def set_cookies(response: httpx.Response, name: str) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


EMBEDDED = {"smart_cookie_samesite": "none", "smart_frame_ancestors": ["https://ehr.example.org"]}


def test_an_embedded_launch_gets_samesite_none_partitioned_cookies(db_url: str, tmp_path: Path) -> None:
    """``web.smart_cookie_samesite: none``: an EHR's cross-site iframe still sends the SMART cookies."""
    with (
        smart_env(
            db_url,
            tmp_path,
            web={"smart_cookie_samesite": "none", "smart_frame_ancestors": ["https://ehr.example.org"]},
        ) as embedded,  # fmt: skip
        TestClient(create_app(embedded.services), base_url="https://testserver") as client,
    ):
        started = client.get(embedded.launch_path(), follow_redirects=False)
        query = parse_qs(urlsplit(started.headers["location"]).query)
        done = client.get(sign_in_at_ehr(query), follow_redirects=False)
        assert done.status_code == 303, done.text
        console = client.get("/console/login")
        page = client.get("/smart/app")
    assert page.status_code == 200, page.text  # only the EHR's origin may frame a signed-in session
    assert "frame-ancestors 'self' https://ehr.example.org" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in console.headers["content-security-policy"]
    for header in (*set_cookies(started, "cb_launch"), *set_cookies(done, "cb_smart"), *set_cookies(done, "cb_launch")):
        attributes = {a.strip().lower() for a in header.split(";")[1:]}
        assert {"samesite=none", "secure", "partitioned", "httponly"} <= attributes, header
    assert set_cookies(started, "cb_launch") and set_cookies(done, "cb_smart") and set_cookies(done, "cb_launch")
    login = set_cookies(console, "cb_login_csrf")  # the console's cookies stay Lax, unpartitioned
    assert login and "samesite=lax" in login[0].lower() and "partitioned" not in login[0].lower()


def test_a_cross_site_cookie_without_the_origins_that_may_frame_the_app_is_refused() -> None:
    with pytest.raises(ValueError, match="smart_frame_ancestors"):
        WebSettings(smart_cookie_samesite="none")
    with pytest.raises(ValueError, match="not an origin"):
        WebSettings(smart_cookie_samesite="none", smart_frame_ancestors=("https://ehr.example.org/path",))
    assert WebSettings(smart_frame_ancestors=("https://ehr.example.org:8443",)).smart_frame_ancestors


def test_the_default_smart_cookie_stays_lax(client: TestClient, env: SmartEnv) -> None:
    started = client.get(env.launch_path(), follow_redirects=False)
    (header,) = set_cookies(started, "cb_launch")
    assert "samesite=lax" in header.lower() and "partitioned" not in header.lower()
