"""Jobs committed together (one transaction, a SAVEPOINT each): a failing job never takes the others down."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select, text, update

from app.db import intake_repo, queue_repo
from app.db.models import ClaimVersion, Job
from app.intake.notification import parse_notification
from app.services import Services
from app.worker.pipeline import process_job
from tests.spine.helpers import clone_bundle, make_services, notification, register, sample_bundles


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, worker={"batch_size": 10, "jobs_per_commit": 10})
    register(svc, sub_id="claimbridge-demo")
    yield svc
    svc.close()


def store(services: Services, bundles: list[dict], *, first: int = 1) -> None:
    """Straight into the inbox (as intake stores them), so poison the intake would refuse gets through;
    event numbers from ``first`` (a number seen before is a duplicate)."""
    with services.engine.begin() as conn:
        for number, bundle in enumerate(bundles, start=first):
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
    worker.run_once()  # processed one batch, claimed the next ahead (the duties' work is not counted here)
    assert sum(1 for j in jobs(services) if j[1] == "done") == 10
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


async def test_the_worker_loop_touches_its_heartbeat_file_every_round(db_url: str, tmp_path: Path) -> None:
    beat = tmp_path / "worker.alive"
    svc = make_services(db_url, tmp_path, worker={"heartbeat_file": str(beat), "poll_interval_seconds": 0.05})
    try:
        stop = asyncio.Event()
        task = asyncio.create_task(svc.worker(worker_id="w").run_forever(stop))
        for _ in range(6000):  # bounded waits (>= 60 s: a loaded machine) for the first touch (at start-up)
            if beat.exists():
                break
            await asyncio.sleep(0.01)
        assert beat.exists(), "the worker never touched its heartbeat file"
        first = beat.stat().st_mtime_ns
        os.utime(beat, ns=(0, 0))  # as if it were old: the next round must touch it again
        for _ in range(6000):
            if beat.stat().st_mtime_ns > 0:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 60)
        assert first > 0 and beat.stat().st_mtime_ns > 0
    finally:
        svc.close()


def test_two_workers_inserting_the_same_new_resource_both_finish_without_a_retry(
    postgres_db_url: str, tmp_path: Path
) -> None:
    """Worker b's insert of the Organization worker a has just inserted (uncommitted) waits for a's
    commit, then finds the row stored and compares versions: no UniqueViolation, no retry."""
    svc = make_services(postgres_db_url, tmp_path, worker={"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.05})
    try:
        register(svc, sub_id="claimbridge-demo")
        base = sample_bundles(1)[0]  # both encounters reference the same Organization, new to the mirror
        store(svc, [clone_bundle_keeping_shared(base, "r1"), clone_bundle_keeping_shared(base, "r2")])
        b = svc.worker(worker_id="b")
        with svc.engine.begin() as conn:
            job_a, job_b = queue_repo.claim_jobs(conn, worker="a", now=svc.clock(), lease=60, limit=2)
        with svc.engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == job_b.id).values(locked_by="b"))
        thread = None
        with svc.engine.begin() as conn:  # worker a's transaction stays open over b's attempt
            process_job(conn, job_a, runtime=svc.runtime)
            queue_repo.finish_job(conn, job_id=job_a.id, worker="a", result="r", now=svc.clock())
            thread = threading.Thread(target=b.run_job, args=(job_b,))
            thread.start()
            assert wait_for_lock_wait(svc), "worker b never waited on worker a's insert"
        thread.join(60)
        after = {i: (s, e) for i, s, e, _ in jobs(svc)}
        assert after[job_b.id] == ("done", None), after[job_b.id]
        with svc.engine.connect() as conn:
            attempts = conn.execute(select(Job.attempts).where(Job.id == job_b.id)).scalar_one()
            versions = conn.execute(select(func.count()).select_from(ClaimVersion)).scalar_one()
        assert attempts == 0 and versions == 2
    finally:
        svc.close()


def clone_bundle_keeping_shared(bundle: dict, suffix: str) -> dict:
    """The encounter under new ids, its Organizations keeping theirs (shared by both clones)."""
    clone = clone_bundle(bundle, suffix)
    shared = {e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Organization"}
    renamed = {f"{i}-{suffix}": i for i in shared}

    def restore(value):
        if isinstance(value, dict):
            out = {k: restore(v) for k, v in value.items()}
            ref = out.get("reference")
            if isinstance(ref, str) and ref.startswith("Organization/") and ref.split("/", 1)[1] in renamed:
                out["reference"] = f"Organization/{renamed[ref.split('/', 1)[1]]}"
            return out
        if isinstance(value, list):
            return [restore(v) for v in value]
        return value

    clone = restore(clone)
    for entry in clone["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Organization" and resource["id"] in renamed:
            resource["id"] = renamed[resource["id"]]
    return clone


def wait_for_lock_wait(svc: Services, query: str = "INSERT INTO resource %", timeout: float = 60) -> bool:
    """True once a session waits on a lock while running ``query`` (a LIKE pattern; worker b behind worker a)."""
    deadline = time.monotonic() + timeout
    with svc.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE :query AND datname = current_database()"
                ),
                {"query": query},
            ).scalar_one()
            conn.rollback()
            if waiting:
                return True
            time.sleep(0.02)
    return False


def test_a_lease_shorter_than_a_batch_does_not_run_the_batch_twice(db_url: str, tmp_path: Path) -> None:
    svc = make_services(db_url, tmp_path, worker={"batch_size": 3, "lease_seconds": 0.001})
    try:
        register(svc, sub_id="claimbridge-demo")
        store(svc, [clone_bundle(sample_bundles(1)[0], f"l{n}") for n in range(7)])
        worker = dataclasses.replace(svc.worker(worker_id="w"), duties=())
        assert worker.drain() == 7  # each job handled once: the expired leases of the batch in hand are not re-claimed
        worker.close()
        assert {s for _, s, _, _ in jobs(svc)} == {"done"}
    finally:
        svc.close()
