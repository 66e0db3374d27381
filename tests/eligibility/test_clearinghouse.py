"""X12 270/271 through the clearinghouse: its real-time API path, its token, its interchange identities
(config/clearinghouse.yaml); ``x12_url`` as the payer's own override; start-up refuses a transport
without a real-time channel. The clearinghouse is mocked at the HTTP edge (respx)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.app import create_app
from app.config.clearinghouse import load_clearinghouse
from app.db.models import EligibilityCheck
from app.domain.eligibility import EligibilityEndpoint
from app.eligibility.clearinghouse import realtime_from
from app.eligibility.duty import EligibilityDuty
from app.eligibility.port import EligibilityPort
from app.errors import ConfigError
from app.services import Services
from app.settings import Settings
from app.x12.tokenizer import SegmentReader
from tests.eligibility.helpers import (
    CLEARINGHOUSE_270,
    CLEARINGHOUSE_SETTINGS,
    CLEARINGHOUSE_TOKEN,
    ROOT,
    buckeye_bundle,
    make_services,
)
from tests.eligibility.test_x12 import REQUEST, SAMPLES, X12_URL, as_4010
from tests.spine.helpers import SECRET, notification
from tests.x12.x12_pyx12 import pyx12_check

NOW = datetime(2026, 12, 3, 15, 4, tzinfo=UTC)
THROUGH = EligibilityEndpoint(adapter="x12", max_attempts=2, backoff_base_seconds=0.01, timeout_seconds=30)
AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


def realtime(**api: Any) -> Any:
    settings = Settings(env="test", **CLEARINGHOUSE_SETTINGS)
    settings.clearinghouse.api.__dict__.update(api)
    return realtime_from(settings, load_clearinghouse(ROOT / "config"))


def token(value: str = "tok-1") -> httpx.Response:
    return httpx.Response(200, json={"access_token": value, "token_type": "Bearer", "expires_in": 3600})


def run_checks(port: EligibilityPort, endpoint: EligibilityEndpoint, times: int) -> list[str]:
    async def go() -> list[str]:
        try:
            return [(await port.verify(REQUEST, endpoint)).status for _ in range(times)]
        finally:
            await port.aclose()

    return asyncio.run(go())


def test_the_270_goes_through_the_clearinghouse_api_and_the_271_comes_back() -> None:
    answers = [(SAMPLES / name).read_text() for name in ("271_subscriber.271", "271_dependent.271",
                                                          "271_subscriber-error-AAA.271")]  # fmt: skip
    with respx.mock(assert_all_called=True) as clearinghouse:
        token_route = clearinghouse.post(CLEARINGHOUSE_TOKEN).mock(return_value=token())
        route = clearinghouse.post(CLEARINGHOUSE_270).mock(side_effect=[httpx.Response(200, text=a) for a in answers])
        statuses = run_checks(
            EligibilityPort(clock=lambda: NOW, control_numbers=count(1).__next__, clearinghouse=realtime()), THROUGH, 3
        )
    assert statuses == ["active", "active", "error"]
    assert token_route.call_count == 1  # one token for every inquiry until it expires
    assert token_route.calls.last.request.headers["authorization"].startswith("Basic ")  # client_secret_basic
    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Bearer tok-1" and sent.headers["idempotency-key"] == "cb-elig-7"
    assert sent.headers["content-type"] == "application/edi-x12"
    text = sent.content.decode()
    isa, gs = list(SegmentReader(text))[:2]
    # the interchange of config/clearinghouse.yaml: us -> the clearinghouse, usage T; the payer is loop 2100A
    assert (isa[5], isa[6].strip(), isa[7], isa[8].strip(), isa[15]) == ("ZZ", "CLAIMBRIDGE", "ZZ", "DEMOCLEARING", "T")
    assert (gs[2], gs[3]) == ("CLAIMBRIDGE", "DEMOCLEARING")
    assert "NM1*PR*2*ABC COMPANY*****PI*842610001~" in text
    ok, errors, _ = pyx12_check(as_4010(text))
    assert ok and not errors, errors


def test_a_401_from_the_clearinghouse_reauthorizes_once_and_5xx_is_retried() -> None:
    answer = (SAMPLES / "271_subscriber.271").read_text()
    with respx.mock(assert_all_called=True) as clearinghouse:
        tokens = clearinghouse.post(CLEARINGHOUSE_TOKEN).mock(side_effect=[token("old"), token("new")])
        route = clearinghouse.post(CLEARINGHOUSE_270).mock(
            side_effect=[httpx.Response(401), httpx.Response(503), httpx.Response(200, text=answer)]
        )
        assert run_checks(
            EligibilityPort(clock=lambda: NOW, control_numbers=count(1).__next__, clearinghouse=realtime()), THROUGH, 1
        ) == ["active"]
    assert tokens.call_count == 2 and route.call_count == 3
    assert route.calls[0].request.headers["authorization"] == "Bearer old"
    assert route.calls[2].request.headers["authorization"] == "Bearer new"


def test_refused_credentials_are_unverified_with_the_reason_not_a_crash() -> None:
    with respx.mock(assert_all_called=False) as clearinghouse:
        clearinghouse.post(CLEARINGHOUSE_TOKEN).mock(return_value=httpx.Response(401))
        route = clearinghouse.post(CLEARINGHOUSE_270).mock(return_value=httpx.Response(200))
        port = EligibilityPort(clock=lambda: NOW, control_numbers=count(1).__next__, clearinghouse=realtime())

        async def go() -> Any:
            try:
                return await port.verify(REQUEST, THROUGH)
            finally:
                await port.aclose()

        result = asyncio.run(go())
    assert result.status == "unverified" and "refused the client credentials" in (result.reason or "")
    assert route.call_count == 0


def test_x12_url_overrides_the_clearinghouse_and_carries_no_clearinghouse_token() -> None:
    direct = EligibilityEndpoint(adapter="x12", x12_url=X12_URL, max_attempts=1)
    with respx.mock(assert_all_called=True) as payer:
        route = payer.post(X12_URL).mock(
            return_value=httpx.Response(200, text=(SAMPLES / "271_subscriber.271").read_text())
        )
        assert run_checks(
            EligibilityPort(clock=lambda: NOW, control_numbers=count(1).__next__, clearinghouse=realtime()), direct, 1
        ) == ["active"]
    sent = route.calls.last.request
    assert "authorization" not in sent.headers
    assert next(iter(SegmentReader(sent.content.decode())))[8].strip() == "842610001"  # ISA08: the payer


@pytest.mark.parametrize("transport", ["folder", "http-without-eligibility-path"])
def test_start_up_refuses_x12_payers_when_the_clearinghouse_has_no_real_time_channel(
    tmp_path: Path, transport: str
) -> None:
    extra: dict[str, Any] = {}
    if transport != "folder":
        extra = orjson.loads(orjson.dumps(CLEARINGHOUSE_SETTINGS))
        del extra["clearinghouse"]["api"]["eligibility_path"]
    with pytest.raises(ConfigError, match="no real-time channel"):
        make_services(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, settings_extra=extra, adapter="x12")


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(
        db_url, tmp_path, settings_extra=CLEARINGHOUSE_SETTINGS, adapter="x12", max_attempts=1, timeout_seconds=30
    )
    yield svc
    svc.close()


def test_a_notified_visit_is_verified_through_the_clearinghouse(services: Services) -> None:
    answer = (SAMPLES / "271_subscriber-error-AAA.271").read_text()
    with respx.mock() as clearinghouse, TestClient(create_app(services)) as client:
        clearinghouse.post(CLEARINGHOUSE_TOKEN).mock(return_value=token())
        route = clearinghouse.post(CLEARINGHOUSE_270).mock(return_value=httpx.Response(200, text=answer))
        note = notification(buckeye_bundle(), 1)
        assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202
        worker = services.worker(worker_id="w")
        worker.drain()
        worker.duty(EligibilityDuty).drain(timeout=60)
    assert route.call_count == 1
    text = route.calls.last.request.content.decode()
    assert "NM1*IL*1*" in text and "*MI*BMH212835769~" in text and "DTP*291*D8*20261006~" in text
    with services.engine.connect() as conn:
        [check] = conn.execute(select(EligibilityCheck)).all()
    assert (check.result_status, check.result["source"]) == ("error", "x12")
    assert [e["code"] for e in check.result["errors"]] == ["50"]
