"""A respx-mocked EHR edge: default metadata, smart-configuration and token routes."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import respx

from app.fhir.auth import BackendServicesConfig, SmartBackendAuth
from app.fhir.client import FhirClient, build_http_client
from app.fhir.keys import SigningKey
from app.retry import RetryPolicy

BASE = "https://ehr.example/fhir"
TOKEN_URL = "https://ehr.example/oauth/token"
CLIENT_ID = "claimbridge-test"


def outcome(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
    }


def install_defaults(router: respx.MockRouter, *, expires_in: int = 300) -> respx.Route:
    """Register metadata, discovery and a token route issuing tok-1, tok-2, ...; returns the token route."""
    router.get(f"{BASE}/metadata").respond(json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"})
    router.get(f"{BASE}/.well-known/smart-configuration").respond(
        json={
            "token_endpoint": TOKEN_URL,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        }
    )
    numbers = itertools.count(1)
    return router.post(TOKEN_URL).mock(
        side_effect=lambda request: httpx.Response(
            200, json={"access_token": f"tok-{next(numbers)}", "token_type": "bearer", "expires_in": expires_in}
        )
    )


def make_client(
    key: SigningKey, *, clock: Any, sleep: Any, scopes: tuple[str, ...] | None = None
) -> tuple[FhirClient, httpx.AsyncClient]:
    """A FhirClient with SMART auth and recorded sleeps, and the AsyncClient it uses (caller closes it)."""
    config = BackendServicesConfig(client_id=CLIENT_ID, fhir_base=BASE, key=key)
    if scopes is not None:
        config = BackendServicesConfig(client_id=CLIENT_ID, fhir_base=BASE, key=key, scopes=scopes)
    http = build_http_client(auth=SmartBackendAuth(config, clock=clock))
    client = FhirClient(
        http,
        base_url=BASE,
        retry=RetryPolicy(max_attempts=4, base_seconds=0.5, max_retry_after=120.0),
        sleep=sleep,
        rand=lambda: 0.5,
    )
    return client, http
