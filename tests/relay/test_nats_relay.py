"""The outbox relay against the local NATS server (JetStream): published, acknowledged, deduplicated.

NATS comes from ``CLAIMBRIDGE_TEST_NATS_URL`` (default ``nats://127.0.0.1:4222``). Without a server
the tests are skipped with a message, unless ``CLAIMBRIDGE_REQUIRE_NATS=1`` (as in ``.ci/run``),
where its absence fails. Each test uses its own stream and subject prefix, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import nats
import nats.js.errors
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.adapters.base import TemporaryDeliveryError
from app.api.app import create_app
from app.db.models import Outbox
from app.relay.events import CLAIM_VERSION
from app.relay.nats import MSG_ID, NatsRelay
from app.services import Services
from app.settings import RelaySettings
from app.worker.outbox import OutboxDispatcher
from tests.spine.helpers import SECRET, make_services, notification, register, sample_bundles

NATS_URL = os.environ.get("CLAIMBRIDGE_TEST_NATS_URL", "nats://127.0.0.1:4222")


def nats_reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def relay_settings() -> Iterator[RelaySettings]:
    if not nats_reachable(NATS_URL):
        message = f"NATS relay tests need a NATS server with JetStream at {NATS_URL}"
        if os.environ.get("CLAIMBRIDGE_REQUIRE_NATS") == "1":
            pytest.fail(f"{message} (CLAIMBRIDGE_REQUIRE_NATS=1)")
        pytest.skip(f"{message}; set CLAIMBRIDGE_TEST_NATS_URL or start nats-server -js")
    tag = uuid.uuid4().hex[:10]
    settings = RelaySettings(
        nats_url=NATS_URL, stream=f"CB_TEST_{tag}", subject_prefix=f"cbtest.{tag}", timeout_seconds=5
    )
    yield settings
    asyncio.run(_delete_stream(settings))


async def _delete_stream(settings: RelaySettings) -> None:
    nc = await nats.connect(settings.nats_url)
    try:
        await nc.jetstream().delete_stream(settings.stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


async def _messages(settings: RelaySettings) -> list[tuple[str, dict[str, str], dict]]:
    """Every message in the test's stream: (subject, headers, JSON body)."""
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(settings.stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(settings.stream, seq)
            out.append((msg.subject, dict(msg.headers or {}), orjson.loads(msg.data or b"{}")))
        return out
    finally:
        await nc.close()


def test_publish_is_acknowledged_and_a_redelivery_is_deduplicated(relay_settings: RelaySettings) -> None:
    relay = NatsRelay(name="events", settings=relay_settings)
    try:
        relay.deliver(kind=CLAIM_VERSION, key="claim.version:cb-1/1", payload={"claim_id": "cb-1", "version": 1})
        relay.deliver(kind=CLAIM_VERSION, key="claim.version:cb-1/1", payload={"claim_id": "cb-1", "version": 1})
        relay.deliver(kind=CLAIM_VERSION, key="claim.version:cb-1/2", payload={"claim_id": "cb-1", "version": 2})
    finally:
        relay.close()
    messages = asyncio.run(_messages(relay_settings))
    assert [(s, h[MSG_ID], b["version"]) for s, h, b in messages] == [
        (f"{relay_settings.subject_prefix}.{CLAIM_VERSION}", "claim.version:cb-1/1", 1),
        (f"{relay_settings.subject_prefix}.{CLAIM_VERSION}", "claim.version:cb-1/2", 2),
    ]


def test_an_unreachable_server_is_a_temporary_failure() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    relay = NatsRelay(name="events", settings=RelaySettings(nats_url=f"nats://127.0.0.1:{port}", timeout_seconds=1))
    try:
        with pytest.raises(TemporaryDeliveryError, match="NATS"):
            relay.deliver(kind=CLAIM_VERSION, key="k", payload={})
    finally:
        relay.close()


@pytest.fixture
def services(db_url: str, tmp_path: Path, relay_settings: RelaySettings) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, relay=relay_settings.model_dump())
    register(svc, sub_id="claimbridge-demo")
    yield svc
    svc.close()


def test_claim_versions_reach_jetstream_through_the_outbox_once(
    services: Services, relay_settings: RelaySettings
) -> None:
    bundles = sample_bundles(2)
    with TestClient(create_app(services)) as client:
        for n, bundle in enumerate(bundles, start=1):
            response = client.post(
                "/notifications",
                content=orjson.dumps(notification(bundle, n)),
                headers={"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"},
            )
            assert response.status_code == 202
    worker = services.worker(worker_id="w")
    worker.drain()  # jobs, then the outbox duty relays the event rows
    with services.engine.connect() as conn:
        rows = conn.execute(select(Outbox.id, Outbox.key, Outbox.status).where(Outbox.destination == "events")).all()
    assert len(rows) == len(bundles) and {r.status for r in rows} == {"delivered"}
    # The worker died after the ack, before marking the rows: once its lease on them has ended they
    # are relayed again, same ids.
    with services.engine.begin() as conn:
        lease_over = datetime(2000, 1, 1, tzinfo=UTC)
        conn.execute(
            update(Outbox).where(Outbox.destination == "events").values(status="pending", available_at=lease_over)
        )
    assert worker.duty(OutboxDispatcher).run_once() == len(rows)
    messages = asyncio.run(_messages(relay_settings))
    assert sorted(h[MSG_ID] for _, h, _ in messages) == sorted(r.key for r in rows)
    assert {b["type"] for _, _, b in messages} == {CLAIM_VERSION}
    assert all("name" not in b and "patient" not in b for _, _, b in messages)  # references only, no PHI
