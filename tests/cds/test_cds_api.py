"""``GET /cds-services`` and ``POST /cds-services/{id}`` over HTTP: JWT client auth, EHR fetch only where allowed."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from app.db import cds_repo, ehr_repo
from app.db.ehr_repo import EhrRecord
from app.db.sql import utcnow
from app.services import Services
from tests.cds.hooks import (
    CdsClientKeys,
    check_response,
    coverage,
    coverage_informations,
    order_sign,
    searchset,
    service_request,
    with_coverage,
)
from tests.spine.helpers import make_services

BASE = "http://127.0.0.1:8000"  # api.public_base_url default
SIGN = "/cds-services/order-sign-crd"
EHR = "https://ehr.example/fhir"


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    yield svc
    svc.close()


@pytest.fixture
def keys(services: Services) -> CdsClientKeys:
    k = CdsClientKeys()
    with services.engine.begin() as conn:
        cds_repo.add_client(conn, cds_repo.ClientRecord(k.iss, k.jwks(), None), now=utcnow())
    return k


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def post(client: TestClient, keys: CdsClientKeys, body: dict[str, Any], **claims: Any) -> httpx.Response:
    return client.post(SIGN, content=json.dumps(body), headers=bearer(keys.token(BASE + SIGN, **claims)))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_discovery_order_sign_replay_and_unusable_input(client: TestClient, keys: CdsClientKeys) -> None:
    assert client.get("/cds-services").status_code == 401
    assert client.get("/cds-services", headers=bearer(keys.token(BASE + SIGN))).status_code == 401  # aud: discovery URL
    response = client.get("/cds-services", headers=bearer(keys.token(BASE + "/cds-services")))
    assert response.status_code == 200
    assert {s["id"] for s in response.json()["services"]} >= {"order-sign-crd", "encounter-start-crd"}

    token = keys.token(BASE + SIGN)
    body = json.dumps(with_coverage([service_request("sr1", "72148")]))
    with respx.mock(assert_all_called=False) as router:  # prefetch present: no request at all
        response = client.post(SIGN, content=body, headers=bearer(token))
    assert response.status_code == 200 and not router.calls
    check_response(response.json())
    assert coverage_informations(response.json())["ServiceRequest/sr1"]["pa-needed"] == ["auth-needed"]
    replay = client.post(SIGN, content=body, headers=bearer(token))  # the jti is stored in the database
    assert replay.status_code == 401 and "jti" in replay.json()["issue"][0]["diagnostics"]

    response = client.post(SIGN, content=b"{not json", headers=bearer(keys.token(BASE + SIGN)))
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"
    no_id = with_coverage([service_request("sr1", "72148")])
    del no_id["context"]["draftOrders"]["entry"][0]["resource"]["id"]
    assert post(client, keys, no_id).status_code == 422
    path = "/cds-services/nope"
    assert client.post(path, content=b"{}", headers=bearer(keys.token(BASE + path))).status_code == 404


def _hs256(keys: CdsClientKeys) -> str:
    import hashlib
    import hmac

    head = _b64({"alg": "HS256", "typ": "JWT", "kid": keys.kid})
    now = int(time.time())
    body = _b64({"iss": keys.iss, "aud": BASE + SIGN, "iat": now, "exp": now + 60, "jti": "h"})
    sig = hmac.new(b"secret", f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


def _none(keys: CdsClientKeys) -> str:
    now = int(time.time())
    claims = {"iss": keys.iss, "aud": BASE + SIGN, "iat": now, "exp": now + 60, "jti": "n"}
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': keys.kid})}.{_b64(claims)}."


BAD_JWTS = [
    ("alg none", _none),
    ("alg HS256", _hs256),
    ("no kid", lambda k: k.token(BASE + SIGN, header={"kid": None})),
    ("unknown kid", lambda k: k.token(BASE + SIGN, header={"kid": "other"})),
    ("typ not JWT", lambda k: k.token(BASE + SIGN, header={"typ": "at+jwt"})),
    ("aud = base URL only", lambda k: k.token(BASE)),
    ("aud another service", lambda k: k.token(BASE + "/cds-services/order-select-crd")),
    ("expired", lambda k: k.token(BASE + SIGN, exp=int(time.time()) - 120, iat=int(time.time()) - 300)),
    ("iat in the future", lambda k: k.token(BASE + SIGN, iat=int(time.time()) + 600, exp=int(time.time()) + 900)),
    ("no jti", lambda k: k.token(BASE + SIGN, jti=None)),
    ("iss not registered", lambda k: k.token(BASE + SIGN, iss="https://stranger.example")),
    ("jku not allowlisted", lambda k: k.token(BASE + SIGN, header={"jku": "https://evil.example/jwks"})),
    ("signed by another key", lambda k: CdsClientKeys(iss=k.iss).token(BASE + SIGN, header={"kid": k.kid})),
    ("not a JWT", lambda k: "opaque-token"),
]


def test_bad_jwts_are_refused_with_401_before_any_work(client: TestClient, keys: CdsClientKeys) -> None:
    body = json.dumps(with_coverage([service_request("sr1", "72148", patient="p1")]))
    for name, make in BAD_JWTS:
        with respx.mock(assert_all_called=False) as router:
            response = client.post(SIGN, content=body, headers=bearer(make(keys)))
        assert response.status_code == 401, name
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome", name
        assert "72148" not in response.text and "p1" not in outcome["issue"][0]["diagnostics"], name
        assert not router.calls, name
    assert post(client, keys, json.loads(body)).status_code == 200  # the same request with a good token


def test_keys_by_registered_jwks_url_and_an_allowlisted_jku(services: Services, client: TestClient) -> None:
    k = CdsClientKeys(iss="https://ehr2.example", alg="RS384")
    with services.engine.begin() as conn:
        record = cds_repo.ClientRecord(k.iss, None, "https://ehr2.example/jwks", ("https://keys.ehr2.example/jwks",))
        cds_repo.add_client(conn, record, now=utcnow())
    body = with_coverage([service_request("sr1", "99213")])
    with respx.mock() as router:
        router.get("https://ehr2.example/jwks").respond(json=k.jwks())
        router.get("https://keys.ehr2.example/jwks").respond(json=k.jwks())
        assert post(client, k, body).status_code == 200
        jku = k.token(BASE + SIGN, header={"jku": "https://keys.ehr2.example/jwks"})
        assert client.post(SIGN, content=json.dumps(body), headers=bearer(jku)).status_code == 200


def register_ehr(services: Services) -> None:
    with services.engine.begin() as conn:
        ehr_repo.add_ehr(conn, EhrRecord(name="ehr1", base_url=EHR, auth="none"), now=utcnow())


def test_missing_prefetch_is_fetched_only_from_a_registered_ehr_and_failures_are_answered(
    services: Services, client: TestClient, keys: CdsClientKeys
) -> None:
    register_ehr(services)
    body = order_sign([service_request("sr1", "72148")], server=EHR)
    with respx.mock() as router:
        cov = router.get(f"{EHR}/Coverage").respond(json=searchset(coverage()))
        router.get(f"{EHR}/ClaimResponse").respond(json=searchset([]))
        response = post(client, keys, body)
    assert response.status_code == 200
    assert coverage_informations(response.json())["ServiceRequest/sr1"]["pa-needed"] == ["auth-needed"]
    assert cov.calls.last.request.headers["authorization"] == "Bearer ehr-token"
    assert cov.calls.last.request.url.params["patient"] == "p1"

    unlisted = order_sign([service_request("sr1", "72148")], server="https://unlisted.example/fhir")
    with respx.mock(assert_all_called=False) as router:
        router.route().respond(500)
        response = post(client, keys, unlisted)
    assert response.status_code == 200 and not router.calls
    info = coverage_informations(response.json())["ServiceRequest/sr1"]
    assert info["covered"] == ["indeterminate"] and "not a registered EHR" in info["reason"][0]["text"]

    with respx.mock() as router:  # the registered EHR is down: a card and indeterminate, never a 500
        router.get(f"{EHR}/Coverage").mock(side_effect=httpx.ConnectError("down"))
        router.route().respond(401)
        response = post(client, keys, body)
    assert response.status_code == 200
    check_response(response.json())
    info = coverage_informations(response.json())["ServiceRequest/sr1"]
    assert info["covered"] == ["indeterminate"] and info["reason"][0]["coding"][0]["code"] == "technical"
    assert response.json()["cards"][0]["indicator"] == "warning"


def test_authorizations_on_file_are_those_of_the_ehr_the_request_names(
    services: Services, client: TestClient, keys: CdsClientKeys
) -> None:
    from app.db import mirror_repo

    register_ehr(services)
    held = {
        "resourceType": "ClaimResponse", "id": "auth1", "status": "active", "use": "preauthorization",
        "patient": {"reference": "Patient/p1"}, "outcome": "complete", "preAuthRef": "AUTH-EHR1",
        "preAuthPeriod": {"start": "2026-01-01", "end": "2030-12-31"},
    }  # fmt: skip
    with services.engine.begin() as conn:  # ehr1's Patient/p1 holds an authorization; the default EHR's does not
        mirror_repo.upsert_resources(conn, [held], now=utcnow(), ehr="ehr1")
    with respx.mock() as router:
        router.get(f"{EHR}/ClaimResponse").respond(json=searchset([]))
        from_ehr1 = post(client, keys, with_coverage([service_request("sr1", "72148")], server=EHR))
    info = coverage_informations(from_ehr1.json())["ServiceRequest/sr1"]
    assert info["pa-needed"] == ["satisfied"] and info["satisfied-pa-id"] == ["AUTH-EHR1"]
    other = with_coverage([service_request("sr1", "72148")], server="https://unlisted.example/fhir")
    assert coverage_informations(post(client, keys, other).json())["ServiceRequest/sr1"]["pa-needed"] == ["auth-needed"]
