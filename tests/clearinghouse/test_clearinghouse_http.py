"""The HTTP clearinghouse adapter at the HTTP edge (respx): client-credentials token, Retry-After,
401 re-authorization, the destination's retry policy and circuit breaker, response pick-up.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from sqlalchemy import select

from app.adapters.base import FatalDeliveryError
from app.adapters.clearinghouse_http import ClearinghouseApi, ClearinghouseHttpAdapter, HttpResponseSource
from app.adapters.registry import UnknownAdapter, build_adapters, build_response_source
from app.db import outbox_repo
from app.db.models import Outbox
from app.retry import RetryPolicy
from app.settings import ClearinghouseApiSettings, DestinationPolicy, OutboxSettings, Settings
from app.worker.outbox import OutboxDispatcher
from tests.clearinghouse.conftest import Flow

BASE = "https://clearinghouse.example.test/api"
TOKEN_URL = "https://auth.example.test/oauth/token"
API = ClearinghouseApiSettings(
    base_url=BASE, token_url=TOKEN_URL, client_id="claimbridge-7", client_secret="s3cr3t-value", scope="claims:submit"
)
PAYLOAD = {"file_name": "claimbridge-000000007.837", "x12": "ISA*00*...~IEA*1*000000007~", "batch_id": 1}


def token_response(value: str = "tok-1") -> httpx.Response:
    return httpx.Response(200, json={"access_token": value, "token_type": "Bearer", "expires_in": 3600})


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def api() -> Iterator[ClearinghouseApi]:
    client = ClearinghouseApi(API)
    yield client
    client.close()


def dispatcher(flow: Flow, api: ClearinghouseApi, policy: DestinationPolicy) -> OutboxDispatcher:
    return OutboxDispatcher(
        engine=flow.services.engine,
        adapters={"clearinghouse": ClearinghouseHttpAdapter(name="clearinghouse", api=api)},
        policy=RetryPolicy(8, 1.0, 600.0),
        metrics=flow.services.metrics,
        clock=flow.clock.now,
        settings=OutboxSettings(destinations={"clearinghouse": policy}),
    )


def queue_file(flow: Flow) -> int:
    with flow.services.engine.begin() as conn:
        return outbox_repo.enqueue(
            conn, destination="clearinghouse", kind="837p", key="batch-000000007", payload=PAYLOAD, now=flow.clock.now()
        )


def row(flow: Flow, outbox_id: int) -> Outbox:
    with flow.services.engine.connect() as conn:
        return conn.execute(select(Outbox).where(Outbox.id == outbox_id)).one()


def test_token_then_503_with_retry_after_then_200(flow: Flow, api: ClearinghouseApi, router: respx.MockRouter) -> None:
    token = router.post(TOKEN_URL).mock(return_value=token_response())
    submit = router.post(f"{BASE}/claims").mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "120"}), httpx.Response(202)]
    )
    outbox_id = queue_file(flow)
    send = dispatcher(flow, api, DestinationPolicy(max_attempts=5, backoff_base_seconds=1, backoff_cap_seconds=10))
    assert send.run_once() == 1
    failed = row(flow, outbox_id)
    assert (failed.status, failed.attempts) == ("pending", 1) and "HTTP 503" in (failed.last_error or "")
    assert failed.available_at.replace(tzinfo=None) >= (flow.clock.now() + timedelta(seconds=120)).replace(tzinfo=None)
    assert send.run_once() == 0  # not due yet: the server asked for two minutes
    flow.clock.advance(121)
    assert send.run_once() == 1
    assert row(flow, outbox_id).status == "delivered"
    assert (token.call_count, submit.call_count) == (1, 2)  # the token is reused
    form = {k: v[0] for k, v in parse_qs(token.calls[0].request.content.decode()).items()}
    assert form == {"grant_type": "client_credentials", "scope": "claims:submit"}
    basic = base64.b64decode(token.calls[0].request.headers["authorization"].split()[1]).decode()
    assert basic == "claimbridge-7:s3cr3t-value"
    sent = submit.calls[1].request
    assert sent.headers["authorization"] == "Bearer tok-1" and sent.headers["content-type"] == "application/edi-x12"
    assert sent.headers["idempotency-key"] == "batch-000000007" and sent.content.decode() == PAYLOAD["x12"]


def test_the_breaker_opens_and_lets_one_trial_through_after_cooldown(
    flow: Flow, api: ClearinghouseApi, router: respx.MockRouter
) -> None:
    router.post(TOKEN_URL).mock(return_value=token_response())
    submit = router.post(f"{BASE}/claims").mock(return_value=httpx.Response(502))
    outbox_id = queue_file(flow)
    policy = DestinationPolicy(max_attempts=10, backoff_base_seconds=1, backoff_cap_seconds=1, breaker_threshold=2,
                               breaker_cooldown_seconds=60)  # fmt: skip
    send = dispatcher(flow, api, policy)
    for _ in range(2):
        send.run_once()
        flow.clock.advance(2)
    assert send.breakers["clearinghouse"].opened_at is not None
    send.run_once()  # open: the row is not even tried
    assert submit.call_count == 2 and row(flow, outbox_id).attempts == 2
    flow.clock.advance(60)
    submit.mock(return_value=httpx.Response(200))
    send.run_once()  # the trial after the cooldown succeeds and closes the breaker
    assert submit.call_count == 3 and row(flow, outbox_id).status == "delivered"
    assert send.breakers["clearinghouse"].opened_at is None


def test_after_the_cooldown_one_trial_goes_out_not_the_whole_backlog(
    flow: Flow, api: ClearinghouseApi, router: respx.MockRouter
) -> None:
    router.post(TOKEN_URL).mock(return_value=token_response())
    submit = router.post(f"{BASE}/claims").mock(return_value=httpx.Response(503))
    policy = DestinationPolicy(max_attempts=10, backoff_base_seconds=1, backoff_cap_seconds=1, breaker_threshold=2,
                               breaker_cooldown_seconds=60)  # fmt: skip
    send = dispatcher(flow, api, policy)
    queue_file(flow)
    queue_file(flow)
    assert send.run_once() == 2  # two failures open the breaker
    for _ in range(4):  # the backlog grows during the outage
        queue_file(flow)
    flow.clock.advance(61)
    assert send.run_once() == 1 and submit.call_count == 3  # one trial; it fails and re-opens the breaker
    assert send.run_once() == 0 and submit.call_count == 3
    submit.mock(return_value=httpx.Response(202))
    flow.clock.advance(61)
    assert send.run_once() == 6 and submit.call_count == 9  # back: the trial closes it, the backlog drains


def test_a_401_reauthorizes_once_and_a_400_is_fatal(api: ClearinghouseApi, router: respx.MockRouter) -> None:
    token = router.post(TOKEN_URL).mock(side_effect=[token_response("tok-1"), token_response("tok-2")])
    submit = router.post(f"{BASE}/claims").mock(side_effect=[httpx.Response(401), httpx.Response(200)])
    adapter = ClearinghouseHttpAdapter(name="clearinghouse", api=api)
    adapter.deliver(kind="837p", key="batch-1", payload=PAYLOAD)
    assert token.call_count == 2 and submit.calls[1].request.headers["authorization"] == "Bearer tok-2"
    submit.mock(return_value=httpx.Response(400))
    with pytest.raises(FatalDeliveryError, match="HTTP 400"):
        adapter.deliver(kind="837p", key="batch-2", payload=PAYLOAD)
    with pytest.raises(FatalDeliveryError, match="837P files"):
        adapter.deliver(kind="task", key="x", payload={})
    router.post(TOKEN_URL).mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
    fresh = ClearinghouseApi(API)
    try:
        with pytest.raises(FatalDeliveryError, match="refused the client credentials"):
            ClearinghouseHttpAdapter(name="clearinghouse", api=fresh).deliver(kind="837p", key="k", payload=PAYLOAD)
    finally:
        fresh.close()


def test_responses_are_listed_downloaded_and_acknowledged(api: ClearinghouseApi, router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).mock(return_value=token_response())
    router.get(f"{BASE}/responses").mock(
        return_value=httpx.Response(200, json=[{"id": "r 1", "name": "ack.999"}, {"name": "no id"}])
    )
    router.get(f"{BASE}/responses/r%201").mock(return_value=httpx.Response(200, content=b"ISA*00~"))
    ack = router.delete(f"{BASE}/responses/r%201").mock(return_value=httpx.Response(204))
    source = HttpResponseSource(api)
    (item,) = source.pending()
    assert (item.name, item.content) == ("ack.999", b"ISA*00~")
    source.finish(item)
    assert ack.call_count == 1


def test_the_registry_builds_the_http_transport_or_refuses_it(tmp_path: Path) -> None:
    incomplete = Settings(env="test", adapters={"clearinghouse": "http", "out_dir": str(tmp_path)})
    with pytest.raises(UnknownAdapter, match="base_url, token_url and client_id"):
        build_adapters(incomplete)
    settings = Settings(env="test", adapters={"clearinghouse": "http", "out_dir": str(tmp_path)},
                        clearinghouse={"api": API.model_dump()})  # fmt: skip
    adapters = build_adapters(settings)
    assert isinstance(adapters["clearinghouse"], ClearinghouseHttpAdapter)
    assert isinstance(build_response_source(settings, adapters), HttpResponseSource)
    with pytest.raises(UnknownAdapter, match="known: folder, http"):
        build_adapters(Settings(env="test", adapters={"clearinghouse": "sftp"}))
