"""Jobs committed together (one transaction, a SAVEPOINT each): a failing job never takes the others down."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from app.db import intake_repo
from app.db.models import ClaimVersion, Job
from app.intake.notification import parse_notification
from app.services import Services
from tests.spine.helpers import clone_bundle, make_services, notification, register, sample_bundles


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, worker={"batch_size": 10, "jobs_per_commit": 10})
    register(svc, sub_id="claimbridge-demo")
    yield svc
    svc.close()


def store(services: Services, bundles: list[dict]) -> None:
    """Straight into the inbox (as intake stores them), so poison the intake would refuse gets through."""
    with services.engine.begin() as conn:
        for number, bundle in enumerate(bundles, start=1):
            body = orjson.dumps(notification(bundle, number))
            intake_repo.store_notification(
                conn,
                subscription_id="claimbridge-demo",
                note=parse_notification(body),
                body=body,
                content_type="application/fhir+json",
                now=services.clock(),
            )


def encounter_of(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")


def patient_of(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def jobs(services: Services) -> list[tuple[int, str, str | None, str | None]]:
    with services.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(Job.id, Job.status, Job.last_error, Job.locked_until))]


def test_poison_jobs_are_isolated_by_their_savepoints(services: Services, db_url: str) -> None:
    base = sample_bundles(1)[0]
    bundles = [clone_bundle(base, f"b{n}") for n in range(8)]
    # Invalid R4 (caught by validation, before any SQL of the job) in the middle of the batch.
    encounter_of(bundles[2])["status"] = "not-a-status"
    # A NUL in a string: valid JSON and R4, but PostgreSQL's jsonb refuses it: the job's own SQL
    # fails inside the shared transaction (SQLite stores it).
    patient_of(bundles[5])["name"] = [{"family": "Nul\u0000Name"}]
    store(services, bundles)

    services.worker(worker_id="w").drain()

    by_id = sorted(jobs(services))
    statuses = [status for _, status, _, _ in by_id]
    postgres = db_url.startswith("postgresql")
    assert statuses[2] == "dead" and "not-a-status" not in (by_id[2][2] or "")
    assert "Encounter" in (by_id[2][2] or "")
    if postgres:
        assert statuses[5] != "done" and by_id[5][2]  # failed, with its reason stored
    others = [s for n, s in enumerate(statuses) if n not in (2, 5)]
    assert others == ["done"] * 6
    with services.engine.connect() as conn:
        claims = conn.execute(select(func.count()).select_from(ClaimVersion)).scalar_one()
    assert claims == (6 if postgres else 7)


def test_close_leaves_no_batch_claimed_ahead_under_lease(services: Services) -> None:
    base = sample_bundles(1)[0]
    store(services, [clone_bundle(base, f"a{n}") for n in range(25)])  # three batches of 10
    worker = services.worker(worker_id="w")
    assert worker.run_once() == 10  # processed one batch, claimed the next ahead
    leased = [j for j in jobs(services) if j[1] == "pending" and j[3] is not None]
    assert len(leased) == 10
    worker.close()  # the batch claimed ahead is processed, not left leased
    assert [j for j in jobs(services) if j[1] == "pending" and j[3] is not None] == []
    assert sum(1 for j in jobs(services) if j[1] == "done") == 20
    worker.drain()
    assert {j[1] for j in jobs(services)} == {"done"}


def test_one_job_per_transaction_still_works(db_url: str, tmp_path: Path) -> None:
    svc = make_services(db_url, tmp_path, worker={"jobs_per_commit": 1, "prefetch_ahead": False})
    try:
        register(svc, sub_id="claimbridge-demo")
        bundles = [clone_bundle(sample_bundles(1)[0], f"c{n}") for n in range(3)]
        bad = copy.deepcopy(bundles[1])
        encounter_of(bad)["status"] = "not-a-status"
        store(svc, [bundles[0], bad, bundles[2]])
        svc.worker(worker_id="w").drain()
        assert [s for _, s, _, _ in sorted(jobs(svc))] == ["done", "dead", "done"]
    finally:
        svc.close()
