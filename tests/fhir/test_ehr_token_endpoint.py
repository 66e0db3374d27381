"""The client assertion as the test EHR checks it: both algorithms accepted, bad assertions refused."""

from __future__ import annotations

import httpx
import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from ehr_harness import CLIENT_ID, running_ehr

from app.fhir.keys import generate_signing_key, public_jwks
from tests.ehr import factories as f
from tests.ehr.server import EhrServer

SCOPE = "system/Patient.rs"


@pytest.mark.parametrize("key_name", ["rs384_key", "es384_key"])
async def test_client_reads_through_the_test_ehr_with_each_algorithm(request, key_name, clock, sleeps):
    key = request.getfixturevalue(key_name)
    async with running_ehr(key, clock=clock, sleep=sleeps) as h:
        h.ehr.seed(f.patient("p1"))
        assert (await h.client.read("Patient", "p1"))["id"] == "p1"
        assert (await h.client.read("Patient", "p1"))["meta"]["versionId"] == "1"
        assert h.ehr.tokens.issued == 1


async def test_requests_without_a_token_are_refused(es384_key, clock):
    ehr = EhrServer(clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ehr.app)) as raw:
        response = await raw.get(f"{ehr.base_url}/Patient/p1")
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_a_revoked_token_is_refused_and_the_client_reauthorizes_once(es384_key, clock, sleeps):
    async with running_ehr(es384_key, clock=clock, sleep=sleeps) as h:
        h.ehr.seed(f.patient("p1"))
        await h.client.read("Patient", "p1")
        h.ehr.tokens.tokens.clear()  # the EHR forgets every token it issued
        assert (await h.client.read("Patient", "p1"))["id"] == "p1"
        assert h.ehr.tokens.issued == 2
        assert h.ehr.count("GET", "/fhir/Patient/p1") == 3  # ok, 401, ok after re-auth


def assertion(key, *, aud: str, lifetime: int = 300, jti: str = "jti-1", kid: bool = True, now: float) -> str:
    header = {"typ": "JWT", **({"kid": key.kid} if kid else {})}
    return private_key_jwt_sign(
        key.key,
        client_id=CLIENT_ID,
        token_endpoint=aud,
        alg=key.alg,
        claims={"jti": jti},
        header=header,
        issued_at=int(now),
        expires_at=int(now) + lifetime,
    )


async def post_token(ehr: EhrServer, client_assertion: str) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "scope": SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": client_assertion,
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ehr.app)) as raw:
        return await raw.post(ehr.token_url, data=form)


@pytest.fixture
def ehr(es384_key, rs384_key, clock) -> EhrServer:
    server = EhrServer(clock=clock)
    server.register_client(CLIENT_ID, public_jwks(es384_key, rs384_key))
    return server


@pytest.mark.parametrize("key_name", ["rs384_key", "es384_key"])
async def test_a_valid_assertion_gets_a_short_lived_bearer_token(request, ehr, key_name, clock):
    key = request.getfixturevalue(key_name)
    response = await post_token(ehr, assertion(key, aud=ehr.token_url, now=clock.now))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] <= 300
    assert body["scope"] == SCOPE


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("wrong aud", lambda key, ehr, now: assertion(key, aud=ehr.base_url, now=now)),
        ("exp 10 min ahead", lambda key, ehr, now: assertion(key, aud=ehr.token_url, lifetime=600, now=now)),
        ("missing kid", lambda key, ehr, now: assertion(key, aud=ehr.token_url, kid=False, now=now)),
        ("expired", lambda key, ehr, now: assertion(key, aud=ehr.token_url, now=now - 400)),
    ],
)
async def test_bad_assertions_are_invalid_client(ehr, es384_key, clock, case, make):
    response = await post_token(ehr, make(es384_key, ehr, clock.now))
    assert response.status_code == 401, case
    assert response.json()["error"] == "invalid_client"
    assert ehr.tokens.issued == 0


async def test_a_reused_jti_is_refused(ehr, es384_key, clock):
    first = await post_token(ehr, assertion(es384_key, aud=ehr.token_url, jti="same", now=clock.now))
    clock.advance(5)
    second = await post_token(ehr, assertion(es384_key, aud=ehr.token_url, jti="same", now=clock.now))
    assert first.status_code == 200
    assert second.status_code == 401
    assert "jti" in second.json()["error_description"]


async def test_a_key_that_is_not_registered_is_refused(ehr, clock):
    stranger = generate_signing_key("ES384")
    response = await post_token(ehr, assertion(stranger, aud=ehr.token_url, now=clock.now))
    assert response.status_code == 401
    assert "kid" in response.json()["error_description"]


async def test_a_forged_signature_under_a_registered_kid_is_refused(ehr, es384_key, clock):
    stranger = generate_signing_key("ES384")
    forged = type(stranger)(key=stranger.key, alg="ES384", kid=es384_key.kid)
    response = await post_token(ehr, assertion(forged, aud=ehr.token_url, now=clock.now))
    assert response.status_code == 401
    assert "signature" in response.json()["error_description"]
