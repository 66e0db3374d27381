"""Calls to registered EHRs from synchronous code: one event loop thread, one HTTP client per EHR.

The worker is synchronous and may run on any thread (``asyncio.to_thread``), while an
``httpx.AsyncClient`` belongs to the event loop that first used it. So the gateway owns one private
event loop on a daemon thread, started on first use, and every EHR call runs there
(:meth:`EhrGateway.call` blocks the caller until it is done, with a timeout). Each EHR gets one
bounded ``AsyncClient`` (SMART backend auth when registered so), created once and shared by every
job; :meth:`EhrGateway.close` closes the clients and stops the loop.

Two :class:`~app.fhir.client.FhirClient` views share that client: ``reader`` (id-only fetch, pulls,
gap recovery) and ``writer`` (write-back), each with its own retry policy from settings, and one
:class:`~app.fhir.client.ServerHold`: a ``Retry-After`` the EHR sent to either holds both.

Scopes: every EHR is asked for ``scopes`` (what the configured adapters need, see
:func:`app.adapters.ehr.ehr_scopes`). What a token grants is recorded on the EHR's row after each
call (``ehr.missing_scopes``: degraded when not empty; ``claimbridge ehrs list``, ``/metrics``), and
:meth:`EhrGateway.require_scopes` refuses work the grant does not cover with :class:`ScopesNotGranted`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine

from app.credentials import DEVELOPMENT_KEYS, SecretKeys
from app.db import ehr_repo
from app.db.ehr_repo import EhrRecord
from app.db.engine import read_only
from app.errors import FatalError
from app.fhir.auth import DEFAULT_READ_TYPES, BackendServicesConfig, Grant, SmartBackendAuth, scopes_for
from app.fhir.client import FhirClient, ServerHold, build_http_client
from app.fhir.errors import FhirNetworkError
from app.fhir.keys import KeyFileError, load_signing_key
from app.retry import RetryPolicy
from app.settings import EhrSettings
from app.ssrf import OutboundPolicy

T = TypeVar("T")
#: Asked for when the caller names no scopes: reads, our Subscriptions and every write-back kind.
SCOPES = (
    *scopes_for(DEFAULT_READ_TYPES),
    *scopes_for(("Task",), access="crus"),
    *scopes_for(("Subscription",), access="cruds"),
    *scopes_for(("SubscriptionTopic", "Basic"), access="rs"),
    *scopes_for(("ClaimResponse",), access="cs"),
)
TransportFactory = Callable[[EhrRecord], httpx.AsyncBaseTransport | None]


class UnknownEhr(FatalError, LookupError):
    """A subscription names an EHR that is not registered (``claimbridge ehrs add``)."""


class InsecureEhr(FatalError):
    """A registered EHR's base URL is plain http while the policy refuses it (production)."""


class ScopesNotGranted(FatalError):
    """The EHR's token grant lacks scopes this work needs: retrying will be refused the same way."""


class LoopThread:
    """A private asyncio event loop on a daemon thread."""

    def __init__(self, name: str = "claimbridge-ehr") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise FhirNetworkError(f"EHR call took longer than {timeout:.0f} s") from exc

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


@dataclass
class EhrConnection:
    record: EhrRecord
    http: httpx.AsyncClient
    reader: FhirClient
    writer: FhirClient
    auth: SmartBackendAuth | None
    recorded_missing: tuple[str, ...] | None = None  # what ehr.missing_scopes holds, as far as we know


class EhrGateway:
    """Registered EHRs by name, their clients, and a way to call them from sync code."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: EhrSettings,
        transport: TransportFactory | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        auth_clock: Callable[[], float] | None = None,
        scopes: Sequence[str] = SCOPES,
        outbound: OutboundPolicy | None = None,
        keys: SecretKeys | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.scopes = tuple(scopes)
        #: Where URLs from EHR documents may point, beside the EHR's own origin (SSRF guard).
        self.outbound = outbound or OutboundPolicy(allow_http=True)
        #: How subscription secrets registered through this gateway are stored.
        self.secret_keys = keys or DEVELOPMENT_KEYS
        self._transport = transport
        self._sleep = sleep
        self._auth_clock = auth_clock
        self._lock = threading.Lock()
        self._loop: LoopThread | None = None
        self._connections: dict[str, EhrConnection] = {}

    def record(self, name: str) -> EhrRecord:
        return self.connection(name).record

    def names(self) -> list[str]:
        with read_only(self.engine) as conn:
            return [r.name for r in ehr_repo.list_ehrs(conn)]

    def connection(self, name: str) -> EhrConnection:
        with self._lock:
            found = self._connections.get(name)
            if found is None:
                found = self._connections[name] = self._connect(name)
            return found

    def call(self, name: str, work: Callable[[EhrConnection], Coroutine[Any, Any, T]]) -> T:
        """Run ``work(connection)`` on the gateway's loop and wait for it (bounded by settings)."""
        connection = self.connection(name)
        try:
            return self._loop_thread().run(work(connection), timeout=self.settings.call_timeout_seconds)
        finally:
            self._record_grants()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run any coroutine (e.g. several calls gathered) on the gateway's loop."""
        try:
            return self._loop_thread().run(coro, timeout=self.settings.call_timeout_seconds)
        finally:
            self._record_grants()

    def require_scopes(self, name: str, needed: Sequence[str]) -> None:
        """Raise :class:`ScopesNotGranted` unless the EHR's grant covers ``needed`` (a token is fetched if none)."""
        if self.connection(name).auth is None:
            return
        grant = self.call(name, _authorize)
        missing = grant.lacks(needed)
        if missing:
            raise ScopesNotGranted(f"EHR {name!r} did not grant {' '.join(missing)} (see claimbridge ehrs list)")

    def _record_grants(self) -> None:
        """Store what each EHR's token granted when it changed (outside the caller's transactions)."""
        with self._lock:
            changed = [
                (name, c, c.auth.grant.missing)
                for name, c in self._connections.items()
                if c.auth is not None and c.auth.grant is not None and c.auth.grant.missing != c.recorded_missing
            ]
        for name, connection, missing in changed:
            with self.engine.begin() as conn:
                ehr_repo.set_missing_scopes(conn, name, missing)
            connection.recorded_missing = missing

    def close(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections.values()), {}
            loop, self._loop = self._loop, None
        if loop is None:
            return
        for connection in connections:
            asyncio.run_coroutine_threadsafe(connection.http.aclose(), loop.loop).result(10)
        loop.stop()

    def _loop_thread(self) -> LoopThread:
        with self._lock:
            if self._loop is None:
                self._loop = LoopThread()
            return self._loop

    def _connect(self, name: str) -> EhrConnection:
        with read_only(self.engine) as conn:
            record = ehr_repo.get_ehr(conn, name)
        if record is None:
            raise UnknownEhr(f"EHR {name!r} is not registered (claimbridge ehrs add --name {name} ...)")
        if record.base_url.lower().startswith("http://") and not self.outbound.allow_http:
            raise InsecureEhr(f"EHR {name!r} has a plain http:// base URL; refused outside development")
        auth = (
            smart_auth(record, scopes=self.scopes, clock=self._auth_clock, outbound=self.outbound)
            if record.auth == "smart-backend"
            else None
        )
        http = build_http_client(
            auth=auth,
            timeout=self.settings.timeout_seconds,
            max_connections=self.settings.max_connections,
            transport=self._transport(record) if self._transport else None,
        )
        limit = self.settings.max_inline_retry_after_seconds
        extra: dict[str, Any] = {"sleep": self._sleep} if self._sleep else {}
        extra["hold"] = ServerHold(self._auth_clock or time.monotonic)  # one Retry-After hold: reads and writes
        reader = FhirClient(
            http,
            base_url=record.base_url,
            retry=RetryPolicy(max_attempts=self.settings.fetch_attempts, max_retry_after=limit),
            **extra,
        )
        writer = FhirClient(
            http,
            base_url=record.base_url,
            retry=RetryPolicy(max_attempts=self.settings.writeback_attempts, max_retry_after=limit),
            **extra,
        )
        return EhrConnection(record, http, reader, writer, auth, record.missing_scopes)


async def _authorize(connection: EhrConnection) -> Grant:
    assert connection.auth is not None
    return await connection.auth.authorize(connection.http)


def smart_auth(
    record: EhrRecord,
    *,
    scopes: Sequence[str] = SCOPES,
    clock: Callable[[], float] | None = None,
    outbound: OutboundPolicy | None = None,
) -> SmartBackendAuth:
    """The SMART Backend Services auth flow for a registered EHR (its key file read now)."""
    if not record.client_id or not record.key_path:
        raise UnknownEhr(f"EHR {record.name!r} uses smart-backend auth but has no client id or key file")
    try:
        key = load_signing_key(Path(record.key_path))
    except (OSError, KeyFileError) as exc:
        raise UnknownEhr(f"EHR {record.name!r}: cannot load its signing key: {exc}") from exc
    config = BackendServicesConfig(
        client_id=record.client_id,
        fhir_base=record.base_url,
        key=key,
        scopes=tuple(scopes),
        outbound=outbound or OutboundPolicy(),
    )
    return SmartBackendAuth(config, clock=clock) if clock else SmartBackendAuth(config)
