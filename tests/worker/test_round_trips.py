"""Statements a job sends (each one a round trip to PostgreSQL): a budget, and none of the removed ones.

A batch of clean jobs shares one transaction without savepoints; the prior-auth judgement of an
order reads nothing the encounter's context holds; the encounter outcome is written without being
read first; the prefetch reads a batch's notifications and subscriptions in one query each.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from app.services import Services
from tests.spine.helpers import clone_bundle, make_services, register, sample_bundles
from tests.worker.test_batch_commit import encounter_of, jobs, store

JOBS = 8
#: Per job of the first sample encounter (4 completed orders, an active MedicationRequest): 24
#: before the round-trip work of issue 12, 13 after (PostgreSQL; SQLite adds its BEGIN IMMEDIATE),
#: 14 with the encounter's own stored claims read once (is the next version a replacement; which
#: claims it no longer yields are withdrawn or voided: app/worker/retire.py); 12 on PostgreSQL with
#: a new claim's row, version and findings written by one statement (claims_repo._PG_NEW_CLAIM).
#: With the shared clinicians and organisations kept under their ids (as in production): 13.1 on
#: PostgreSQL (the batch's claim, prefetch and finish included), 12.1 with those the notification
#: carries unchanged taken from the job instead of read back for the context
#: (mirror_repo.upsert_resources ``written``); 10.1 with a new claim's head read and outbox rows folded
#: into its one insert (pg_writes.NEW_CLAIM_IF_ABSENT), 9.1 with the encounter's stored claims and the
#: patient's prior claims read together (encounter_claims_repo.claims_and_prior; SQLite 13.75), 8.1
#: with the encounter's outcome row in the new claim's statement (NEW_CLAIM_IF_ABSENT_WITH_OUTCOME).
#: SQLite 12.75 with a new claim's row inserted unless there, no head read first
#: (claims_repo.save_first_version).
#: 6.375 (SQLite 12.0) with the batch's stored versions read once and its new resources inserted
#: once (pipeline.gather_batch), not per job; 5.5 (SQLite 11.125, 10.125 with the new claim inserted
#: unless there) with the batch's encounter contexts read together (mirror_repo.load_contexts).
#: A new statement per job must be a decision, not an accident.
BUDGET = {"postgresql": 5.5, "sqlite": 10.125}


@contextmanager
def counting(engine: Engine) -> Iterator[collections.Counter[str]]:
    """Statements sent through ``engine`` while inside, by their first words (SAVEPOINTs included)."""
    seen: collections.Counter[str] = collections.Counter()

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen[" ".join(statement.split()[:4])] += 1

    def savepoint(*_: Any) -> None:
        seen["SAVEPOINT"] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "savepoint", savepoint)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "savepoint", savepoint)


def services_for(db_url: str, tmp_path: Path) -> Services:
    svc = make_services(
        db_url, tmp_path, worker={"batch_size": JOBS, "jobs_per_commit": JOBS, "batch_gather_min_jobs": JOBS}
    )
    register(svc, sub_id="claimbridge-demo")
    return svc


#: Kept under their ids by every clone: the same versions recur in every notification, as in production.
SHARED = frozenset({"Organization", "Practitioner", "PractitionerRole", "Location"})


def bundles(tag: str) -> list[dict[str, Any]]:
    return [clone_bundle(sample_bundles(1)[0], f"{tag}{n}", keep=SHARED) for n in range(JOBS)]


def test_a_clean_batch_stays_within_the_statement_budget(db_url: str, tmp_path: Path) -> None:
    svc = services_for(db_url, tmp_path)
    try:
        store(svc, bundles("warm"))  # shared clinicians and organisations stored: the steady state
        svc.worker(worker_id="w").drain()
        store(svc, bundles("t"), first=JOBS + 1)
        worker = dataclasses.replace(svc.worker(worker_id="w"), duties=())  # the jobs' statements only
        with counting(svc.engine) as seen:
            worker.drain()
        assert [s for _, s, _, _ in jobs(svc)] == ["done"] * 2 * JOBS
        total = sum(n for k, n in seen.items() if k != "SAVEPOINT")
        assert total <= BUDGET[svc.engine.dialect.name] * JOBS, sorted(seen.items())
        assert seen["SAVEPOINT"] == 0, seen
        selects = " ".join(k for k in seen if k.startswith("SELECT"))
        assert "encounter_outcome" not in selects, seen  # written with one upsert, not read first
        assert "prior_auth_alert" in selects  # the order was judged (its alert looked up) ...
        by_query = [k for k in seen if k.startswith("SELECT resource.body")]
        assert by_query == [], seen  # ... without the Coverage, payor and authorization reads
        # The context's referenced Practitioners and Organizations: carried unchanged by every
        # notification (same versionId and lastUpdated as stored), taken from the job, not read back.
        reference_reads = [k for k in seen if k.replace('"', "").startswith("SELECT resource.key, resource.body")]
        assert reference_reads == [], seen
    finally:
        svc.close()


def test_a_failing_job_sends_its_batch_again_with_a_savepoint_per_job(db_url: str, tmp_path: Path) -> None:
    svc = services_for(db_url, tmp_path)
    try:
        poison = bundles("p")
        encounter_of(poison[3])["status"] = "not-a-status"
        store(svc, poison)
        with counting(svc.engine) as seen:
            dataclasses.replace(svc.worker(worker_id="w"), duties=()).drain()
        statuses = [s for _, s, _, _ in sorted(jobs(svc))]
        assert statuses[3] == "dead" and statuses.count("done") == JOBS - 1
        assert seen["SAVEPOINT"] == JOBS, seen
    finally:
        svc.close()
