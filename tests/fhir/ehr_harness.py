"""Wiring of the test EHR, a receiver and a FhirClient over ASGI transports (no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from app.ehr.gateway import SCOPES
from app.fhir.auth import BackendServicesConfig, SmartBackendAuth
from app.fhir.client import DEFAULT_RETRY, FhirClient, build_http_client
from app.fhir.keys import SigningKey, public_jwks
from tests.ehr.receiver import Receiver
from tests.ehr.server import EhrServer

CLIENT_ID = "claimbridge"
RECEIVER = "https://claimbridge.test/notifications"


@dataclass
class Harness:
    ehr: EhrServer
    receiver: Receiver
    client: FhirClient
    auth: SmartBackendAuth


@asynccontextmanager
async def running_ehr(key: SigningKey, *, clock, sleep) -> AsyncIterator[Harness]:
    receiver = Receiver()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app)) as notifier:
        ehr = EhrServer(notifier=notifier, clock=clock)
        ehr.register_client(CLIENT_ID, public_jwks(key))
        auth = SmartBackendAuth(
            BackendServicesConfig(client_id=CLIENT_ID, fhir_base=ehr.base_url, key=key, scopes=SCOPES), clock=clock
        )
        http = build_http_client(auth=auth, transport=httpx.ASGITransport(app=ehr.app))
        async with http:
            client = FhirClient(http, base_url=ehr.base_url, retry=DEFAULT_RETRY, sleep=sleep, rand=lambda: 0.5)
            yield Harness(ehr=ehr, receiver=receiver, client=client, auth=auth)
