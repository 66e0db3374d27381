"""The guard on outbound URLs that come from input or from a remote document (SSRF).

Every URL claimbridge is asked to call by someone else (a discovered ``token_endpoint``, a Bundle
``link``/``fullUrl``, a CDS Hooks ``fhirServer`` or ``jku``, a SMART ``iss``) goes through
:meth:`OutboundPolicy.check` before a request is built:

- the scheme is ``https`` (``http`` only when the policy allows it: development, or
  ``ehr.allow_insecure_endpoints``); no user info in the URL;
- a host that is **configured** passes: ``security.allowed_hosts`` (``host`` or ``host:port``) and
  the origins the caller adds (:meth:`OutboundPolicy.with_origins`: the registered EHRs' base URLs);
  a configured host may be a loopback or private address (a test EHR on 127.0.0.1, an on-premises EHR);
- any other host is refused, and with a reason that names its class when it is a loopback,
  link-local, private, multicast, reserved or cloud metadata address (``169.254.169.254``,
  ``metadata.google.internal``, ``fd00:ec2::254`` ...);
- ``allow_public=True`` (for callers that must reach arbitrary public servers) additionally lets
  through hosts that resolve only to public unicast addresses (resolution with :func:`socket.getaddrinfo`).

Pure and synchronous except for that optional resolution. The error is :class:`UrlRefused` (fatal).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from app.errors import FatalError
from app.settings import Settings

METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata", "instance-data", "169.254.169.254", "fd00:ec2::254", "100.100.100.200"}
)
DEFAULT_PORTS = {"https": 443, "http": 80}


class UrlRefused(FatalError, ValueError):
    """An outbound URL the policy does not allow (message names the host and why, never a body)."""


def host_port(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an absolute http(s) URL, host lower-case without brackets."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        raise UrlRefused(f"not an absolute http(s) URL: {url[:200]!r}")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("URLs with user information are refused")
    return scheme, host, port or DEFAULT_PORTS[scheme]


def same_origin(url: str, other: str) -> bool:
    try:
        return host_port(url) == host_port(other)
    except UrlRefused:
        return False


def address_class(host: str) -> str | None:
    """Why a host (name or literal address) is not a public destination, or None if it may be."""
    if host in METADATA_HOSTS:
        return "a cloud metadata address"
    if host == "localhost" or host.endswith(".localhost"):
        return "a loopback address"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_private, "a private address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified or ip.is_reserved, "a reserved address"),
    )
    return next((why for hit, why in checks if hit), None)


@dataclass(frozen=True)
class OutboundPolicy:
    allowed: frozenset[str] = frozenset()  # "host" or "host:port", lower-case
    allow_http: bool = False
    allow_public: bool = False
    resolve: bool = field(default=True, compare=False)

    @classmethod
    def from_hosts(cls, hosts: Iterable[str], *, allow_http: bool = False) -> OutboundPolicy:
        return cls(frozenset(h.strip().lower() for h in hosts if h.strip()), allow_http=allow_http)

    def with_origins(self, *urls: str) -> OutboundPolicy:
        """This policy, also allowing the host:port of each URL (e.g. the registered EHR base URLs)."""
        added = set()
        for url in urls:
            _, host, port = host_port(url)
            added.add(f"{host}:{port}")
        return replace(self, allowed=self.allowed | added)

    def is_configured(self, host: str, port: int) -> bool:
        return host in self.allowed or f"{host}:{port}" in self.allowed

    def check(self, url: str, *, what: str = "URL") -> str:
        """The URL itself when it may be called; else :class:`UrlRefused` saying why."""
        scheme, host, port = host_port(url)
        if scheme == "http" and not self.allow_http:
            raise UrlRefused(f"{what} {host}: plain http is refused outside development (use https)")
        if self.is_configured(host, port):
            return url
        why = address_class(host)
        if why:
            raise UrlRefused(f"{what} {host} is {why}; refused unless listed in security.allowed_hosts")
        if not self.allow_public:
            raise UrlRefused(f"{what} {host} is not a configured host (security.allowed_hosts or a registered EHR)")
        if self.resolve:
            self._check_resolved(host, port, what)
        return url

    def check_base(self, url: str, *, what: str = "base URL") -> str:
        """An operator-configured base URL (``ehrs add``): it becomes a configured host, so loopback and
        private addresses pass (an on-premises EHR); plain http, link-local and metadata addresses do not."""
        scheme, host, port = host_port(url)
        if scheme == "http" and not self.allow_http:
            raise UrlRefused(f"{what} {host}: plain http is refused outside development (use https)")
        why = address_class(host)
        if why in ("a cloud metadata address", "a link-local address") and not self.is_configured(host, port):
            raise UrlRefused(f"{what} {host} is {why}; refused unless listed in security.allowed_hosts")
        return url

    @staticmethod
    def _check_resolved(host: str, port: int, what: str) -> None:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except OSError:
            raise UrlRefused(f"{what} {host} does not resolve") from None
        for info in infos:
            why = address_class(str(info[4][0]))
            if why:
                raise UrlRefused(f"{what} {host} resolves to {why}; refused unless listed in security.allowed_hosts")


def outbound_policy(settings: Settings) -> OutboundPolicy:
    """The service's policy: ``security.allowed_hosts``; http only outside production (or if allowed)."""
    allow_http = settings.env != "production" or settings.ehr.allow_insecure_endpoints
    return OutboundPolicy.from_hosts(settings.security.allowed_hosts, allow_http=allow_http)
