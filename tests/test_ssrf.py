"""The outbound-URL guard: only configured hosts; loopback, link-local, private and metadata refused."""

from __future__ import annotations

import socket

import pytest

from app.settings import Settings
from app.ssrf import OutboundPolicy, UrlRefused, address_class, outbound_policy, same_origin


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("https://[fd00:ec2::254]/", "metadata"),
        ("https://127.0.0.1:8000/api", "loopback"),
        ("https://localhost/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://169.254.10.1/", "link-local"),
        ("https://10.0.0.5/fhir", "private"),
        ("https://public.example/fhir", "not a configured host"),
        ("http://ehr.example/fhir", "plain http"),
        ("https://user:pw@ehr.example/fhir", "user information"),
        ("file:///etc/passwd", "absolute http"),
        ("gopher://ehr.example/", "absolute http"),
    ],
)
def test_refused(url: str, why: str) -> None:
    policy = OutboundPolicy.from_hosts(["ehr.example"])
    with pytest.raises(UrlRefused, match=why):
        policy.check(url)


def test_configured_hosts_pass_even_on_loopback() -> None:
    policy = OutboundPolicy.from_hosts(["ehr.example", "127.0.0.1:8443"]).with_origins("https://fhir.hospital.example")
    assert policy.check("https://ehr.example/fhir/Patient/1")
    assert policy.check("https://127.0.0.1:8443/fhir")
    assert policy.check("https://fhir.hospital.example/R4/Encounter/1")
    with pytest.raises(UrlRefused):
        policy.check("https://127.0.0.1:8444/fhir")  # another port of a configured host:port
    with pytest.raises(UrlRefused):
        policy.check("https://fhir.hospital.example:8443/")  # with_origins adds host:port


def test_public_hosts_only_when_asked_and_only_if_they_resolve_publicly() -> None:
    policy = OutboundPolicy(allow_public=True, resolve=False)
    assert policy.check("https://cds-client.example/fhir")
    with pytest.raises(UrlRefused, match="private"):
        policy.check("https://192.168.1.1/fhir")
    here = socket.gethostname()  # a name (not an address) this machine resolves to itself
    if address_class(socket.gethostbyname(here)) is not None:
        with pytest.raises(UrlRefused, match="resolves to a"):
            OutboundPolicy(allow_public=True).check(f"https://{here}/")
    assert address_class("8.8.8.8") is None


def test_same_origin_and_the_service_policy() -> None:
    assert same_origin("https://ehr.example/fhir", "https://EHR.example:443/oauth/token")
    assert not same_origin("https://ehr.example/fhir", "http://ehr.example/fhir")
    assert not same_origin("https://ehr.example/fhir", "https://ehr.example.attacker/")
    production = Settings(
        env="production", api={"admin_token": "k3J9-real-token-from-the-vault"},
        security={"secret_key": "a-32-character-key-from-the-vault-0", "allowed_hosts": ["auth.vendor.example"]},
    )  # fmt: skip
    policy = outbound_policy(production)
    assert not policy.allow_http and policy.check("https://auth.vendor.example/token")
    assert outbound_policy(Settings(env="development")).allow_http
