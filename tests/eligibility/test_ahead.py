"""Checks sent ahead of their claim jobs (app.eligibility.ahead), on SQLite and PostgreSQL; the payer
is mocked at the HTTP edge (respx)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import delete, event, insert, select

from app.api.app import create_app
from app.db import claims_repo, eligibility_repo
from app.db.models import EligibilityCheck, FindingRow, Inbox, InboxKey, Job
from app.eligibility.duty import EligibilityDuty
from app.eligibility.triggers import Requested, plan_checks
from app.mappers.ids import claim_id
from app.services import Services
from app.worker.expansion import InboxExpander
from app.worker.runner import Worker
from tests.eligibility.helpers import COVERAGE, ENCOUNTER, SUBMIT, buckeye_bundle, make_services, response
from tests.spine.helpers import SECRET, clone_bundle, notification

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
CLAIM = claim_id(ENCOUNTER, "60054")


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, max_attempts=2, backoff_base_seconds=0.01, timeout_seconds=2)
    yield svc
    svc.close()


def post(services: Services, bundle: dict[str, Any]) -> None:
    with TestClient(create_app(services)) as client:
        note = notification(bundle, 1)
        assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202


def rows(services: Services, *columns: Any) -> list[Any]:
    with services.engine.connect() as conn:
        return list(conn.execute(select(*columns)).all())


def test_the_check_goes_before_its_job_and_the_job_applies_the_answer(services: Services) -> None:
    with respx.mock(assert_all_called=True) as payer:
        route = payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        post(services, buckeye_bundle())
        worker = services.worker(worker_id="w")
        worker.duty(InboxExpander).drain()
        duty = worker.duty(EligibilityDuty)
        assert duty.send_ahead() == 1  # planned from the waiting job's notification: nothing in the mirror yet
        assert rows(services, Job.status) == [("pending",)]
        assert len(services.runtime.parsed) == 1  # its parse, left for the job's prefetch
        assert duty.send_ahead() == 0  # that job is looked at once
        concurrent.futures.wait([f for _, _, f in duty._inflight.values()], timeout=10)
        assert duty.collect() == 1 and route.call_count == 1
        sent = orjson.loads(route.calls.last.request.content)
        assert next(c for c in sent["contained"] if c["resourceType"] == "Coverage")["subscriberId"] == "BMH212835769"

        worker.drain()  # the job: it plans the same check (ignored) and evaluates with the stored answer
        assert len(services.runtime.parsed) == 0  # taken by the job's prefetch
        [check] = rows(services, EligibilityCheck)
        assert (check.coverage, check.trigger, check.result_status) == (COVERAGE, "finished", "active")
        assert check.reevaluated_at is not None  # applied by the job itself
        with services.engine.connect() as conn:
            assert eligibility_repo.pending_reevaluation(conn, limit=10) == []
            versions = conn.execute(select(FindingRow.claim_version).where(FindingRow.claim_id == CLAIM)).scalars()
            assert set(versions) == {1}  # one claim version: no re-evaluation followed
            claim = claims_repo.get_claim(conn, CLAIM)
        assert claim is not None
        assert not any(f["rule"].startswith("eligibility.") for f in claim["findings"])
        assert route.call_count == 1


def sent_ahead(services: Services) -> tuple[Worker, EligibilityDuty]:
    """The Buckeye visit acknowledged and expanded, and its one check sent ahead of its waiting job."""
    post(services, buckeye_bundle())
    worker = services.worker(worker_id="w")
    worker.duty(InboxExpander).drain()
    duty = worker.duty(EligibilityDuty)
    assert duty.send_ahead() == 1
    return worker, duty


def test_a_check_planned_again_stays_in_the_plan_and_is_not_inserted_again(services: Services) -> None:
    with respx.mock(assert_all_called=True) as payer:
        payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        worker, duty = sent_ahead(services)
        duty.wait(10)
        worker.drain()
    resources = {f"{r['resourceType']}/{r['id']}": r for r in (e["resource"] for e in buckeye_bundle()["entry"])}
    with services.engine.begin() as conn:  # the visit's Encounter and Coverage change again
        keys = plan_checks(conn, [resources[ENCOUNTER], resources[COVERAGE]], payers=services.config.payers,
                           now=services.clock())  # fmt: skip
        assert [(k.coverage, k.trigger, k.known) for k in keys] == [(COVERAGE, "finished", True)]  # no "coverage" check
        assert eligibility_repo.request_checks(conn, keys, now=services.clock()) == []
    assert len(rows(services, EligibilityCheck.id)) == 1


def test_an_answer_stored_after_the_job_is_still_applied_by_re_evaluation(services: Services) -> None:
    with respx.mock(assert_all_called=True) as payer:
        payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        worker, duty = sent_ahead(services)
        worker.run_batch(worker.claim(), {})  # the job runs before the answer is collected
        with services.engine.connect() as conn:
            first = claims_repo.get_claim(conn, CLAIM)
        assert first is not None and "eligibility.verification-stale" in {f["rule"] for f in first["findings"]}
        duty.drain(timeout=10)
        [check] = rows(services, EligibilityCheck)
        assert check.result_status == "active" and check.reevaluated_at is not None
        with services.engine.connect() as conn:
            claim = claims_repo.get_claim(conn, CLAIM)
        assert claim is not None and "eligibility.verification-stale" not in {f["rule"] for f in claim["findings"]}


def test_an_invalid_notification_is_left_to_its_job(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, settings_extra={"intake": {"validate_resources": False}})  # let in
    bundle = buckeye_bundle()
    coverage = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Coverage")
    coverage["status"] = 7  # not a FHIR code: the job dead-letters the notification
    with respx.mock(assert_all_called=False) as payer:
        route = payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        post(services, bundle)
        worker = services.worker(worker_id="w")
        worker.duty(InboxExpander).drain()
        try:
            assert worker.duty(EligibilityDuty).send_ahead() == 0
            assert rows(services, EligibilityCheck.id) == [] and route.call_count == 0
            worker.drain()
            assert rows(services, Job.status) == [("dead",)]
        finally:
            services.close()


def test_a_notification_committed_after_a_higher_id_was_read_is_still_planned_ahead(services: Services) -> None:
    """On PostgreSQL an inbox id is taken at the insert and the row is seen at its commit: row 1 can show up
    after row 2 was read. Here row 1 is taken out before the first round and put back as it was after it."""
    with respx.mock(assert_all_called=True) as payer:
        route = payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        with TestClient(create_app(services)) as client:
            for i in range(3):
                note = notification(clone_bundle(buckeye_bundle(), f"late{i}"), i + 1)
                assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202
        duty = services.worker(worker_id="w").duty(EligibilityDuty)
        assert duty.send_ahead() == 3  # the first round: rows 1-3
        with TestClient(create_app(services)) as client:
            for i in range(3, 6):
                note = notification(clone_bundle(buckeye_bundle(), f"late{i}"), i + 1)
                assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202
        ids = [r.id for r in rows(services, Inbox.id)]
        late = sorted(ids)[3]  # the first of the second three: not committed yet when the round reads
        with services.engine.begin() as conn:
            row = conn.execute(select(Inbox.__table__).where(Inbox.__table__.c.id == late)).one()._asdict()
            keys = conn.execute(select(InboxKey.__table__).where(InboxKey.__table__.c.inbox_id == late)).all()
            conn.execute(delete(InboxKey.__table__).where(InboxKey.__table__.c.inbox_id == late))
            conn.execute(delete(Inbox.__table__).where(Inbox.__table__.c.id == late))
        assert duty.send_ahead() == 2  # the two after it
        with services.engine.begin() as conn:  # its commit
            conn.execute(insert(Inbox.__table__), [row])
            if keys:
                conn.execute(insert(InboxKey.__table__), [k._asdict() for k in keys])
        assert duty.send_ahead() == 1  # looked for again below the cursor
        assert duty.send_ahead() == 0  # once
        duty.wait(10)
        assert route.call_count == 6
        checks = rows(services, EligibilityCheck.coverage, EligibilityCheck.trigger, EligibilityCheck.result_status)
        assert len({c for c, _, _ in checks}) == 6 and {(t, s) for _, t, s in checks} == {("finished", "active")}
        worker = services.worker(worker_id="w2")
        worker.drain()  # the jobs plan the same checks (ignored) and apply the answers
        assert len(rows(services, EligibilityCheck.id)) == 6 and route.call_count == 6


def test_the_job_plans_a_check_sent_ahead_as_known_without_asking_the_database(services: Services) -> None:
    with respx.mock(assert_all_called=True) as payer:
        payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        worker, duty = sent_ahead(services)
        duty.wait(10)
        worker.drain()
    assert duty.requested is services.runtime.requested  # the duty and the jobs' planning share it
    resources = [e["resource"] for e in buckeye_bundle()["entry"]]
    held = {f"{r['resourceType']}/{r['id']}": r for r in resources}  # the bodies stored, as the job holds them
    statements: list[str] = []
    now = services.clock()
    with services.engine.begin() as conn:
        event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
        asked = plan_checks(conn, resources, payers=services.config.payers, now=now)
        n_asked = len(statements)
        known = plan_checks(conn, resources, payers=services.config.payers, now=now, held=held,
                            requested=duty.requested)  # fmt: skip
    assert [(k.coverage, k.trigger, k.known) for k in asked] == [(COVERAGE, "finished", True)]
    assert [(k, k.known) for k in known] == [(k, k.known) for k in asked]
    assert n_asked - (len(statements) - n_asked) >= 2  # neither the answer state nor the payer's Organization


def test_requested_forgets_the_oldest_beyond_its_bound() -> None:
    requested = Requested(most=2)
    day = date(2026, 10, 6)
    requested.add([("default", f"Coverage/{i}", day, "finished") for i in range(3)])
    assert ("default", "Coverage/0", day, "finished") not in requested
    assert all(("default", f"Coverage/{i}", day, "finished") in requested for i in (1, 2))
    assert ("other", "Coverage/1", day, "finished") not in requested  # per EHR
