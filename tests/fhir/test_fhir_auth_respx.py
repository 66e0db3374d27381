"""SMART Backend Services flow at the HTTP edge (respx): assertion, caching, refresh, 401 re-auth."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from respx_ehr import BASE, CLIENT_ID, TOKEN_URL, install_defaults, make_client, outcome

from app.fhir.auth import BackendServicesConfig, scopes_for
from app.fhir.errors import AuthError
from tests.ehr import factories as f


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def jwt_part(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def router() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def new_client(clock, sleeps):
    """Factory of FhirClients on the fake clock; their AsyncClients are closed after the test."""
    opened = []

    def make(key, **kwargs):
        client, http = make_client(key, clock=clock, sleep=sleeps, **kwargs)
        opened.append(http)
        return client

    yield make
    for http in opened:
        await http.aclose()


@pytest.mark.parametrize("key_name", ["rs384_key", "es384_key"])
async def test_token_request_carries_a_smart_client_assertion(new_client, router, request, key_name, clock, sleeps):
    key = request.getfixturevalue(key_name)
    token_route = install_defaults(router)
    router.get(f"{BASE}/Patient/p1").respond(json=f.patient("p1"))
    client = new_client(key, scopes=("system/Encounter.rs", "system/Patient.rs"))
    await client.read("Patient", "p1")
    await client.read("Patient", "p1")
    form = form_of(token_route.calls[0].request)
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "system/Encounter.rs system/Patient.rs"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    header, claims = jwt_part(form["client_assertion"], 0), jwt_part(form["client_assertion"], 1)
    assert header == {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_URL
    assert 0 < claims["exp"] - clock.now <= 300
    assert len(claims["jti"]) >= 16
    assert token_route.call_count == 1  # cached for the second read


async def test_each_assertion_has_a_fresh_jti(es384_key, clock):
    from app.fhir.auth import SmartBackendAuth

    auth = SmartBackendAuth(BackendServicesConfig(client_id=CLIENT_ID, fhir_base=BASE, key=es384_key), clock=clock)
    jtis = {jwt_part(auth.client_assertion(TOKEN_URL), 1)["jti"] for _ in range(5)}
    assert len(jtis) == 5


async def test_token_is_cached_until_shortly_before_expiry_then_refreshed(new_client, router, es384_key, clock, sleeps):
    token_route = install_defaults(router, expires_in=300)
    api = router.get(f"{BASE}/Patient/p1").respond(json=f.patient("p1"))
    client = new_client(es384_key)
    await client.read("Patient", "p1")
    clock.advance(260)  # 40 s left: still outside the 30 s refresh margin
    await client.read("Patient", "p1")
    assert token_route.call_count == 1
    clock.advance(15)  # 25 s left: refresh
    await client.read("Patient", "p1")
    assert token_route.call_count == 2
    used = [c.request.headers["Authorization"] for c in api.calls]
    assert used == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


async def test_a_401_reauthorizes_exactly_once(new_client, router, es384_key, clock, sleeps):
    token_route = install_defaults(router)
    api = router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.Response(401, json=outcome("token revoked")), httpx.Response(200, json=f.patient("p1"))]
    )
    client = new_client(es384_key)
    assert (await client.read("Patient", "p1"))["id"] == "p1"
    assert token_route.call_count == 2
    assert [c.request.headers["Authorization"] for c in api.calls] == ["Bearer tok-1", "Bearer tok-2"]


async def test_a_second_401_is_an_auth_error_without_more_token_requests(new_client, router, es384_key, clock, sleeps):
    token_route = install_defaults(router)
    api = router.get(f"{BASE}/Patient/p1").respond(401, json=outcome("client disabled"))
    client = new_client(es384_key)
    with pytest.raises(AuthError, match="client disabled"):
        await client.read("Patient", "p1")
    assert token_route.call_count == 2
    assert api.call_count == 2
    assert sleeps.delays == []


async def test_token_endpoint_refusal_is_an_auth_error_not_retried(new_client, router, es384_key, clock, sleeps):
    install_defaults(router)
    refused = router.post(TOKEN_URL).respond(401, json={"error": "invalid_client", "error_description": "bad kid"})
    api = router.get(f"{BASE}/Patient/p1").respond(json=f.patient("p1"))
    client = new_client(es384_key)
    with pytest.raises(AuthError, match="invalid_client: bad kid"):
        await client.read("Patient", "p1")
    assert refused.call_count == 1
    assert not api.called


async def test_token_endpoint_503_is_retried_like_any_temporary_error(new_client, router, es384_key, clock, sleeps):
    install_defaults(router)
    router.post(TOKEN_URL).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"access_token": "t", "expires_in": 300})]
    )
    router.get(f"{BASE}/Patient/p1").respond(json=f.patient("p1"))
    client = new_client(es384_key)
    await client.read("Patient", "p1")
    assert len(sleeps.delays) == 1


async def test_discovery_without_our_algorithm_is_refused(new_client, router, rs384_key, clock, sleeps):
    router.get(f"{BASE}/.well-known/smart-configuration").respond(
        json={"token_endpoint": TOKEN_URL, "token_endpoint_auth_signing_alg_values_supported": ["ES384"]}
    )
    client = new_client(rs384_key)
    with pytest.raises(AuthError, match="RS384"):
        await client.read("Patient", "p1")


async def test_concurrent_requests_share_one_token_request(new_client, router, es384_key, clock, sleeps):
    token_route = install_defaults(router)
    router.get(f"{BASE}/Patient/p1").respond(json=f.patient("p1"))
    client = new_client(es384_key)
    results = await asyncio.gather(*[client.read("Patient", "p1") for _ in range(5)])
    assert len(results) == 5
    assert token_route.call_count == 1


def test_scopes_for_builds_narrow_system_scopes():
    assert scopes_for(["Encounter", "Coverage", "Encounter"]) == ("system/Encounter.rs", "system/Coverage.rs")
    assert scopes_for(["Task"], access="uc") == ("system/Task.cu",)
    with pytest.raises(ValueError, match="access letters"):
        scopes_for(["Task"], access="rw")


def test_assertion_lifetime_over_five_minutes_is_refused(es384_key):
    with pytest.raises(ValueError, match="300"):
        BackendServicesConfig(client_id="c", fhir_base=BASE, key=es384_key, assertion_lifetime=600)
