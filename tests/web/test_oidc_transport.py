"""The OIDC issuer and its discovered endpoints must be https: a plain-http issuer is a start-up
configuration error in production (and on any non-loopback host); discovery refuses http endpoints.

No database: settings validation, and discovery against a provider mocked at the HTTP edge (respx).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from app.settings import Settings
from app.web.oidc import discover
from app.web.render import WebError

PRODUCTION: dict[str, Any] = {
    "env": "production",
    "api": {"admin_token": "a-production-admin-token-0123456789"},
    "security": {"secret_key": "k" * 40},
}
CLIENT = {"oidc_client_id": "console", "oidc_client_secret": "s" * 24}


def settings(issuer: str, **base: Any) -> Settings:
    return Settings(**{"env": "test", **base, "web": {"oidc_issuer": issuer, **CLIENT}})


def test_a_plain_http_issuer_is_refused_at_start_up_in_production() -> None:
    with pytest.raises(ValidationError, match=r"web.oidc_issuer must be https in production \(http://login"):
        settings("http://login.example.org", **PRODUCTION)
    with pytest.raises(ValidationError, match="must be https in production"):
        settings("http://127.0.0.1:8080", **PRODUCTION)  # not even on loopback
    with pytest.raises(ValidationError, match="not an absolute https URL"):
        settings("login.example.org", **PRODUCTION)
    assert settings("https://login.example.org", **PRODUCTION).web.oidc_issuer == "https://login.example.org"


def test_development_allows_plain_http_on_loopback_only() -> None:
    for issuer in ("http://127.0.0.1:8080", "http://localhost:9000/realms/x", "http://[::1]:8080"):
        assert settings(issuer, env="development").web.oidc_issuer == issuer
    with pytest.raises(ValidationError, match="plain http only on a loopback host"):
        settings("http://login.example.org", env="development")


def configuration(issuer: str, **override: str) -> dict[str, str]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        **override,
    }


async def discovered(issuer: str, document: dict[str, str], *, production: bool) -> dict[str, str]:
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{issuer}/.well-known/openid-configuration").respond(json=document)
        async with httpx.AsyncClient() as http:
            return await discover(http, issuer, production=production)


@pytest.mark.parametrize("key", ["authorization_endpoint", "token_endpoint", "jwks_uri"])
def test_discovered_plain_http_endpoints_are_refused(key: str) -> None:
    issuer = "https://login.example.org"
    document = configuration(issuer, **{key: "http://login.example.org/x"})
    with pytest.raises(WebError) as refused:
        asyncio.run(discovered(issuer, document, production=True))
    assert refused.value.status == 502 and key in refused.value.message and "https" in refused.value.message
    with pytest.raises(WebError):  # outside production too: the host is not loopback
        asyncio.run(discovered(issuer, document, production=False))
    assert asyncio.run(discovered(issuer, configuration(issuer), production=True))[key].startswith("https://")


def test_a_loopback_test_provider_may_use_http_outside_production() -> None:
    issuer = "http://127.0.0.1:9999"
    assert asyncio.run(discovered(issuer, configuration(issuer), production=False))["token_endpoint"].startswith(
        "http://127.0.0.1"
    )
