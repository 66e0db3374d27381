"""The discovered SMART ``token_endpoint`` must be on the EHR's origin (or an allowed host): the signed
client assertion is sent wherever it says."""

from __future__ import annotations

import pytest
import respx
from respx_ehr import BASE, CLIENT_ID

from app.fhir.auth import BackendServicesConfig, SmartBackendAuth
from app.fhir.client import FhirClient, build_http_client
from app.fhir.errors import AuthError
from app.retry import RetryPolicy
from app.ssrf import OutboundPolicy
from tests.ehr import factories as f

ELSEWHERE = "https://attacker.example/token"


def discovery(router: respx.MockRouter, token_url: str) -> respx.Route:
    router.get(f"{BASE}/.well-known/smart-configuration").respond(
        json={"token_endpoint": token_url, "token_endpoint_auth_methods_supported": ["private_key_jwt"]}
    )
    return router.post(token_url).respond(json={"access_token": "t", "token_type": "bearer", "expires_in": 300})


@pytest.mark.parametrize(
    ("token_url", "policy", "allowed"),
    [
        (ELSEWHERE, OutboundPolicy(), False),
        ("http://169.254.169.254/latest/meta-data", OutboundPolicy(allow_http=True), False),
        ("https://auth.ehr-vendor.example/token", OutboundPolicy.from_hosts(["auth.ehr-vendor.example"]), True),
        ("https://ehr.example/oauth/token", OutboundPolicy(), True),
    ],
)
async def test_token_endpoint_origin(rs384_key, clock, token_url: str, policy: OutboundPolicy, allowed: bool) -> None:
    with respx.mock(assert_all_called=False) as router:
        token_route = discovery(router, token_url)
        router.get(f"{BASE}/Patient/p1").respond(json=f.patient("p1"))
        config = BackendServicesConfig(client_id=CLIENT_ID, fhir_base=BASE, key=rs384_key, outbound=policy)
        http = build_http_client(auth=SmartBackendAuth(config, clock=clock))
        client = FhirClient(http, base_url=BASE, retry=RetryPolicy(max_attempts=1))
        try:
            if allowed:
                assert (await client.read("Patient", "p1"))["id"] == "p1"
            else:
                with pytest.raises(AuthError, match="not on the EHR's origin"):
                    await client.read("Patient", "p1")
        finally:
            await http.aclose()
        assert token_route.call_count == (1 if allowed else 0)  # no assertion ever left for a foreign host
