"""A claim is not batched before the first eligibility answer for its visit (payer with an endpoint),
or, when none comes, until the payer's ``claim_wait_seconds`` has passed: then it goes out with an
``eligibility.unverified`` warning (SQLite and PostgreSQL; the payer is mocked at the HTTP edge)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.db import claims_repo
from app.eligibility.duty import EligibilityDuty
from app.mappers.ids import claim_id
from app.services import Services
from tests.eligibility.helpers import ENCOUNTER, SUBMIT, buckeye_bundle, make_services, response
from tests.spine.helpers import SECRET, SetClock, expand, notification

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
CLAIM = claim_id(ENCOUNTER, "60054")


@pytest.fixture
def clock() -> SetClock:
    return SetClock(datetime(2026, 12, 3, 15, 0, tzinfo=UTC))


@pytest.fixture
def services(db_url: str, tmp_path: Path, clock: SetClock) -> Iterator[Services]:
    svc = make_services(
        db_url, tmp_path, clock=clock, settings_extra={"clearinghouse": {"submit_interval_seconds": 0}},
        max_attempts=1, timeout_seconds=30, claim_wait_seconds=60,
    )  # fmt: skip
    with TestClient(create_app(svc)) as client:
        note = notification(buckeye_bundle(), 1)
        assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202
    expand(svc.engine)  # the notification's job (the worker's expansion duty)
    worker = svc.worker(worker_id="w")
    worker.run_batch(*worker.next_batch())  # the job only: the eligibility duty has not run yet
    yield svc
    svc.close()


def claim(services: Services) -> dict[str, object]:
    with services.engine.connect() as conn:
        found = claims_repo.get_claim(conn, CLAIM)
    assert found is not None
    return found


def test_the_claim_waits_for_the_first_answer_then_is_batched(services: Services) -> None:
    assert claim(services)["status"] == "ready"  # only warnings so far (no verification on file)
    first = services.submitter().submit()
    assert first.waiting == (CLAIM,) and first.submitted == ()
    with respx.mock(assert_all_called=True) as payer:
        payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        services.worker(worker_id="w").duty(EligibilityDuty).drain(timeout=60)
    second = services.submitter().submit()
    assert [c for c, _ in second.submitted] == [CLAIM] and second.waiting == ()
    rules = {f["rule"] for f in claim(services)["findings"]}  # type: ignore[attr-defined]
    assert "eligibility.verification-stale" not in rules and "eligibility.unverified" not in rules


def test_without_an_answer_the_claim_goes_out_unverified_after_the_wait(services: Services, clock: SetClock) -> None:
    duty = services.worker(worker_id="w").duty(EligibilityDuty)  # never dispatched: the payer's queue is full
    clock.now += timedelta(seconds=30)
    assert duty.expire_waits() == 0
    assert services.submitter().submit().waiting == (CLAIM,)
    clock.now += timedelta(seconds=31)  # past claim_wait_seconds (60)
    assert duty.expire_waits() == 1
    assert services.submitter().submit().waiting == (CLAIM,)  # until the claim carries the outcome
    assert duty.reevaluate_pending(limit=10) == 1
    result = services.submitter().submit()
    assert [c for c, _ in result.submitted] == [CLAIM]
    findings = {f["rule"]: f for f in claim(services)["findings"]}  # type: ignore[attr-defined]
    assert findings["eligibility.unverified"]["severity"] == "warning"
    assert "within 60 s" in findings["eligibility.unverified"]["message"]
