"""The ``appointment-book`` CDS hook queues the booking's eligibility check (SQLite and PostgreSQL).

The EHR calls the hook while booking (its appointments are ``proposed``, not yet in the mirror); the
patient's coverage is in the mirror from an earlier visit. The hook answers at once; the worker's
eligibility duty asks the payer (respx at the HTTP edge); the booked Appointment's notification
later plans the same check key, so the payer is asked once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.app import create_app
from app.db import cds_repo
from app.db.models import EligibilityCheck
from app.db.sql import utcnow
from app.eligibility.duty import EligibilityDuty
from app.services import Services
from tests.cds.hooks import CdsClientKeys
from tests.eligibility.helpers import COVERAGE, SUBMIT, buckeye_bundle, make_services, response
from tests.spine.helpers import SECRET, notification

BASE = "http://127.0.0.1:8000"  # api.public_base_url default
BOOK = "/cds-services/appointment-book-crd"


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, max_attempts=1)
    yield svc
    svc.close()


def booking(patient: str, appointment_id: str = "appt-new") -> dict[str, Any]:
    appt = {
        "resourceType": "Appointment",
        "id": appointment_id,
        "status": "proposed",
        "start": "2026-12-10T09:00:00-05:00",
        "end": "2026-12-10T09:20:00-05:00",
        "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "needs-action"}],
    }
    return {
        "hook": "appointment-book",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/prac-1", "patientId": patient,
                    "appointments": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": appt}]}},
    }  # fmt: skip


def checks(services: Services) -> list[tuple[str, str, str]]:
    with services.engine.connect() as conn:
        rows = conn.execute(select(EligibilityCheck)).all()
    return sorted((r.coverage, str(r.service_date), r.trigger) for r in rows)


def test_the_appointment_book_hook_verifies_the_booking_once(services: Services) -> None:
    keys = CdsClientKeys()
    with services.engine.begin() as conn:
        cds_repo.add_client(conn, cds_repo.ClientRecord(keys.iss, keys.jwks(), None), now=utcnow())
    auth = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
    with respx.mock() as payer, TestClient(create_app(services)) as client:
        route = payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        worker = services.worker(worker_id="w")
        duty = worker.duty(EligibilityDuty)
        # an earlier visit puts the patient's Buckeye coverage in the mirror (and verifies it)
        note = orjson.dumps(notification(buckeye_bundle(), 1))
        assert client.post("/notifications", content=note, headers=auth).status_code == 202
        worker.drain()
        duty.drain(timeout=10)
        before, calls = checks(services), route.call_count

        def book(patient: str) -> None:
            headers = {"Authorization": f"Bearer {keys.token(BASE + BOOK)}", "Content-Type": "application/json"}
            answer = client.post(BOOK, content=json.dumps(booking(patient)), headers=headers)
            assert answer.status_code == 200 and "cards" in answer.json()

        book("pat-009")
        assert checks(services) == sorted([*before, (COVERAGE, "2026-12-10", "appointment")])
        assert duty.drain(timeout=10) == 1 and route.call_count == calls + 1
        book("pat-009")  # the same booking again: nothing new to ask
        book("nobody-on-file")  # no coverage in the mirror: nothing to ask, still answered
        assert duty.drain(timeout=10) == 0 and route.call_count == calls + 1
    assert len(checks(services)) == len(before) + 1
