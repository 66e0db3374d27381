"""Triggers and the scheduler (SQLite and PostgreSQL): booking, 24 hours before, check-in, a hanging payer."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.app import create_app
from app.db.models import EligibilityCheck, Job
from app.eligibility.duty import EligibilityDuty
from app.services import Services
from tests.eligibility.helpers import COVERAGE, SUBMIT, buckeye_bundle, make_services, response
from tests.spine.helpers import SECRET, SetClock, expand, notification, sample_bundles

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
T0 = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SetClock:
    return SetClock(T0)


@pytest.fixture
def services(db_url: str, tmp_path: Path, clock: SetClock) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, clock=clock, max_attempts=1, timeout_seconds=30)
    yield svc
    svc.close()


def appointment(status: str, version: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": "appt-1",
        "meta": {"versionId": version},
        "status": status,
        "start": "2026-12-05T09:00:00-05:00",
        "end": "2026-12-05T09:20:00-05:00",
        "participant": [{"actor": {"reference": "Patient/pat-009"}, "status": "accepted"}],
    }


def visit(appt: dict[str, Any], encounter_status: str, version: str) -> dict[str, Any]:
    bundle = buckeye_bundle()
    enc = bundle["entry"][0]["resource"]
    enc["status"] = encounter_status
    enc["meta"] = {**enc["meta"], "versionId": version}
    enc["period"] = {"start": "2026-12-05T09:05:00-05:00"}
    bundle["entry"].append({"resource": appt})
    return bundle


def post(client: TestClient, bundle: dict[str, Any], number: int) -> None:
    note = notification(bundle, number)
    assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202


def rows(services: Services) -> dict[str, Any]:
    with services.engine.connect() as conn:
        return {r.trigger: r for r in conn.execute(select(EligibilityCheck)).all()}


def test_booking_check_in_and_the_day_before_schedule(services: Services, clock: SetClock) -> None:
    with respx.mock() as payer, TestClient(create_app(services)) as client:
        route = payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        post(client, visit(appointment("booked", "1"), "arrived", "5"), 1)
        worker = services.worker(worker_id="w")
        worker.drain()
        duty = worker.duty(EligibilityDuty)
        duty.drain(timeout=60)
        found = rows(services)
        assert set(found) == {"appointment", "day-before", "check-in"}  # the coverage itself: not twice
        assert {found[t].result_status for t in ("appointment", "check-in")} == {"active"}
        assert found["day-before"].status == "pending" and route.call_count == 2
        assert str(found["appointment"].service_date) == "2026-12-05"

        clock.now = datetime(2026, 12, 4, 13, 59, tzinfo=UTC)  # 24 h before 09:00-05:00 is 14:00Z
        assert duty.drain(timeout=60) == 0 and route.call_count == 2
        clock.now = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
        assert duty.drain(timeout=60) == 1 and route.call_count == 3
        assert rows(services)["day-before"].result_status == "active"


def test_a_cancelled_appointment_is_not_re_verified(services: Services, clock: SetClock) -> None:
    with respx.mock() as payer, TestClient(create_app(services)) as client:
        route = payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        post(client, visit(appointment("booked", "1"), "planned", "5"), 1)
        worker = services.worker(worker_id="w")
        worker.drain()
        post(client, visit(appointment("cancelled", "2"), "cancelled", "6"), 2)
        worker.drain()
        clock.now += timedelta(days=2)
        worker.duty(EligibilityDuty).drain(timeout=60)
    found = rows(services)
    assert found["day-before"].status == "skipped" and "cancelled" in found["day-before"].result["reason"]
    assert route.call_count == 1  # the check at booking only


def test_a_hanging_payer_never_stalls_the_other_jobs(services: Services) -> None:
    gate = threading.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.to_thread(gate.wait, 30)  # the payer answers only when the test lets it
        return httpx.Response(200, json=response())

    other = copy.deepcopy(sample_bundles(1)[0])  # a Medicare visit: no eligibility endpoint
    with respx.mock() as payer, TestClient(create_app(services)) as client:
        payer.post(SUBMIT).mock(side_effect=hang)
        post(client, buckeye_bundle(), 1)
        worker = services.worker(worker_id="w")
        expand(services.engine)  # the notification's inbox row becomes its job
        worker.run_once()
        duty = worker.duty(EligibilityDuty)
        assert duty.in_flight == 1
        post(client, other, 2)
        worker.drain()  # returns with the payer still hanging
        with services.engine.connect() as conn:
            jobs = conn.execute(select(Job.status).order_by(Job.id)).scalars().all()
        assert jobs == ["done", "done"] and duty.in_flight == 1 and not gate.is_set()
        assert rows(services)["finished"].status == "running"
        gate.set()
        assert duty.wait(10) == 1
    assert rows(services)["finished"].result_status == "active"
    assert rows(services)["finished"].coverage == COVERAGE


def test_each_verification_is_asked_once_per_coverage_date_and_trigger(services: Services) -> None:
    with respx.mock() as payer, TestClient(create_app(services)) as client:
        route = payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        worker = services.worker(worker_id="w")
        duty = worker.duty(EligibilityDuty)
        post(client, visit(appointment("booked", "1"), "arrived", "5"), 1)
        worker.drain()
        duty.drain(timeout=10)
        assert route.call_count == 2  # booking and check-in (the day-before check is due later)
        # new versions of the same appointment and the same checked-in encounter: nothing new to ask
        post(client, visit(appointment("booked", "2"), "in-progress", "6"), 2)
        worker.drain()
        duty.drain(timeout=10)
        with services.engine.connect() as conn:
            keys = [(r.coverage, str(r.service_date), r.trigger) for r in conn.execute(select(EligibilityCheck))]
            jobs = conn.execute(select(Job.status).order_by(Job.id)).scalars().all()
    assert jobs == ["done", "done"]  # the second job ran through (an existing check is no error)
    assert sorted(keys) == sorted({(COVERAGE, "2026-12-05", t) for t in ("appointment", "day-before", "check-in")})
    assert route.call_count == 2
