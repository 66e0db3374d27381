"""Checks go to the payer as soon as the job that requested them commits (before the round's other
duties), many at once within the payer's ``concurrency``; re-evaluations come in short transactions
so answers keep landing. The payer is mocked at the HTTP edge (respx)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.api.app import create_app
from app.db.models import EligibilityCheck
from app.eligibility.duty import EligibilityDuty
from app.services import Services
from app.worker.expansion import InboxExpander
from app.worker.runner import Worker
from tests.eligibility.helpers import SUBMIT, buckeye_bundle, make_services, response
from tests.spine.helpers import SECRET, clone_bundle, notification

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, max_attempts=1, timeout_seconds=30)
    yield svc
    svc.close()


@dataclass
class Probe:
    """A duty that runs first in the round and notes how many checks were already with the payer."""

    duty: EligibilityDuty
    seen: list[int] = field(default_factory=list)

    def run_if_due(self) -> int:
        self.seen.append(self.duty.in_flight)
        return 0


def post_visits(client: TestClient, n: int) -> None:
    for i in range(n):
        note = notification(clone_bundle(buckeye_bundle(), f"d{i}"), i + 1)
        assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202


def test_the_checks_of_a_batch_go_out_when_its_jobs_commit(services: Services) -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.wait_for(release.wait(), timeout=30)
        return httpx.Response(200, json=response())

    with respx.mock() as payer, TestClient(create_app(services)) as client:
        payer.post(SUBMIT).mock(side_effect=slow)
        post_visits(client, 3)
        full = services.worker(worker_id="w")
        InboxExpander(engine=services.engine, metrics=services.metrics).drain()  # the jobs exist
        elig = full.duty(EligibilityDuty)
        probe = Probe(elig)
        worker = Worker(engine=services.engine, runtime=services.runtime, settings=services.settings.worker,
                        metrics=services.metrics, duties=[probe, elig], worker_id="w")  # fmt: skip
        assert worker.run_once() >= 3
        assert probe.seen == [3]  # with the payer before any duty of the round ran
        loop = services.eligibility._loop  # type: ignore[union-attr]
        assert loop is not None
        loop.loop.call_soon_threadsafe(release.set)
        elig.drain(timeout=60)
    with services.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(EligibilityCheck.result_status == "active")).scalar_one() == 3


def test_checks_run_concurrently_up_to_the_payers_concurrency(db_url: str, tmp_path: Path) -> None:
    active, peak = 0, 0
    gate = asyncio.Event()

    async def count(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if peak >= 4:
            gate.set()
        await asyncio.wait_for(gate.wait(), timeout=30)
        active -= 1
        return httpx.Response(200, json=response())

    services = make_services(db_url, tmp_path, max_attempts=1, timeout_seconds=60, concurrency=4)
    try:
        with respx.mock() as payer, TestClient(create_app(services)) as client:
            payer.post(SUBMIT).mock(side_effect=count)
            post_visits(client, 6)
            worker = services.worker(worker_id="w")
            worker.drain()
            worker.duty(EligibilityDuty).drain(timeout=60)
    finally:
        services.close()
    assert peak == 4  # four at once (not one after the other), never more


def unapplied(services: Services) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(EligibilityCheck.reevaluated_at.is_(None))).scalar_one())


def test_re_evaluations_come_a_few_per_round(services: Services) -> None:
    with respx.mock() as payer, TestClient(create_app(services)) as client:
        payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        post_visits(client, 5)
        InboxExpander(engine=services.engine, metrics=services.metrics).drain()
        jobs_only = Worker(engine=services.engine, runtime=services.runtime, settings=services.settings.worker,
                           metrics=services.metrics, worker_id="w")  # fmt: skip
        jobs_only.drain()
        elig = services.worker(worker_id="w").duty(EligibilityDuty)
        elig.reevaluate_per_round = 2
        assert elig.dispatch() == 5
        concurrent.futures.wait([future for _, _, future in elig._inflight.values()], timeout=60)
        assert elig.collect() == 5  # every answer stored, none applied yet
        left = [unapplied(services)]
        while left[-1] and len(left) < 20:
            elig.run_if_due()
            left.append(unapplied(services))
    assert left == [5, 3, 1, 0]
