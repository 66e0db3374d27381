"""A new claim on PostgreSQL: its row, version 1, findings and outbox rows in one statement; on
SQLite its row inserted unless there (``ON CONFLICT DO NOTHING``), no head read first.

The job knows from the encounter's stored claims (read once per evaluation) that a claim is new, so
:func:`app.worker.pipeline.persist` skips the locked head read and writes everything at once
(``pg_writes.NEW_CLAIM_IF_ABSENT``). What it stores must be what the portable path stores (head
read, claim + version + findings, outbox rows one by one), and a claim that is stored after all
(the insert finds the row) must fall back to that path with nothing written twice.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, delete, func, select, update

from app.db import mirror_repo, outcomes_repo, queue_repo
from app.db.models import Claim, ClaimVersion, EncounterOutcomeRow, FindingRow, Job, Outbox
from app.domain.context import key_of
from app.evaluate import Evaluation
from app.worker.pipeline import evaluate, persist, process_job
from tests.spine.helpers import make_services, register, sample_bundles
from tests.worker.test_batch_commit import encounter_of, jobs, store, wait_for_lock_wait
from tests.worker.test_round_trips import counting


def rows_of(conn: Connection, claim_id: str) -> Any:
    """Every row stored for ``claim_id``, its id replaced by ``X`` and surrogate keys dropped."""
    tables = [
        select(Claim).where(Claim.id == claim_id),
        select(ClaimVersion).where(ClaimVersion.claim_id == claim_id).order_by(ClaimVersion.id),
        select(FindingRow).where(FindingRow.claim_id == claim_id).order_by(FindingRow.id),
        select(Outbox).where(Outbox.key.contains(claim_id)).order_by(Outbox.id),  # type: ignore[attr-defined]
    ]
    found = []
    for stmt in tables:
        for row in conn.execute(stmt).mappings():
            values = {k: v for k, v in row.items() if k not in ("id", "created_at", "updated_at", "available_at")}
            text = orjson.dumps(values, default=str).decode().replace(claim_id, "X")
            found.append(orjson.loads(text))
    return found


def renamed(ev: Evaluation, claim_id: str) -> Evaluation:
    return dataclasses.replace(ev, claim={**ev.claim, "id": claim_id})


def test_a_new_claim_in_one_statement_is_what_the_portable_path_stores(db_url: str, tmp_path: Path) -> None:
    svc = make_services(db_url, tmp_path)
    try:
        register(svc, sub_id="claimbridge-demo")
        bundle = sample_bundles(1)[0]
        store(svc, [bundle])
        svc.worker(worker_id="w").drain()
        runtime = dataclasses.replace(svc.runtime, events_destination="events")  # two outbox rows
        now = svc.clock()
        with svc.engine.begin() as conn:
            ev = evaluate(conn, key_of(encounter_of(bundle)), runtime=runtime, today=now.date(), now=now)
            assert ev is not None and ev.findings
            stored = {}
            for tag, new in (("one-statement", True), ("portable", False)):
                mine = renamed(ev, f"{ev.claim_id}-{tag}")
                with counting(svc.engine) as seen:
                    result = persist(conn, mine, job=None, runtime=runtime, now=now, writeback="wb", new=new)
                assert result.startswith(f"{mine.claim_id}:v1:"), result
                if new and conn.dialect.name == "postgresql":
                    assert sum(seen.values()) == 1, seen
                # SQLite: the new claim's row is inserted unless there, with no head read first.
                reads = sum(n for k, n in seen.items() if k.startswith("SELECT"))
                if conn.dialect.name == "sqlite":
                    assert reads == (0 if new else 1), seen
                stored[tag] = rows_of(conn, mine.claim_id)
            assert len(stored["portable"]) >= 4  # claim, version, a finding, the event row at least
            assert stored["one-statement"] == stored["portable"]
            # Taken to be new but stored already: the portable path, same content -> nothing written.
            again = renamed(ev, f"{ev.claim_id}-one-statement")
            assert persist(conn, again, job=None, runtime=runtime, now=now, writeback="wb", new=True) == (
                f"{again.claim_id}:unchanged"
            )
            assert rows_of(conn, again.claim_id) == stored["one-statement"]
            # The encounter's outcome row written by that one statement is the portable path's.
            assert ev.outcome is not None
            values = outcomes_repo.outcome_values(ev.outcome, job_id=None, now=now, ehr=ev.ehr)
            outcomes = {}
            for tag, new in (("o-one-statement", True), ("o-portable", False)):
                conn.execute(delete(EncounterOutcomeRow))
                mine = renamed(ev, f"{ev.claim_id}-{tag}")
                with counting(svc.engine) as seen:
                    persist(conn, mine, job=None, runtime=runtime, now=now, writeback="wb", new=new, outcome=values)
                if new and conn.dialect.name == "postgresql":
                    assert sum(seen.values()) == 1, seen
                outcomes[tag] = [dict(r) for r in conn.execute(select(EncounterOutcomeRow)).mappings()]
            assert len(outcomes["o-portable"]) == 1
            assert outcomes["o-one-statement"] == outcomes["o-portable"]
    finally:
        svc.close()


def test_two_workers_storing_the_same_new_claim_both_finish_without_a_retry(
    postgres_db_url: str, tmp_path: Path
) -> None:
    """The same encounter evaluated by two workers at once, its resources already in the mirror, the
    claim not yet: b reads the encounter's claims while a's is uncommitted (none: new), waits on a's
    uncommitted rows (the encounter's outcome row is written before the claim), then its one-statement
    insert finds the claim stored and takes the stored-claim path (same content: unchanged). One
    claim version, no UniqueViolation, no retry."""
    svc = make_services(postgres_db_url, tmp_path)
    try:
        register(svc, sub_id="claimbridge-demo")
        bundle = sample_bundles(1)[0]
        with svc.engine.begin() as conn:
            mirror_repo.upsert_resources(conn, [e["resource"] for e in bundle["entry"]], now=svc.clock())
        again = copy.deepcopy(bundle)  # a later version of the Encounter (the same one is one job)
        encounter_of(again)["meta"]["versionId"] = str(int(encounter_of(bundle)["meta"]["versionId"]) + 1)
        store(svc, [bundle, again])
        b = svc.worker(worker_id="b")
        with svc.engine.begin() as conn:
            (job_a,) = queue_repo.claim_jobs(conn, worker="a", now=svc.clock(), lease=60, limit=2)
            # The claim never leases a job behind a pending one of the same ordering key; another key
            # re-evaluating the same encounter (a patient-level change) can: leased to b by hand.
            row = conn.execute(select(Job).where(Job.id != job_a.id)).one()
            conn.execute(update(Job).where(Job.id == row.id).values(locked_by="b"))
        job_b = dataclasses.replace(job_a, id=row.id, inbox_id=row.inbox_id, key=row.key, version_id=row.version_id,
                                    event_number=row.event_number)  # fmt: skip
        with svc.engine.begin() as conn:  # worker a's transaction stays open over b's attempt
            assert ":v1:" in process_job(conn, job_a, runtime=svc.runtime)
            queue_repo.finish_job(conn, job_id=job_a.id, worker="a", result="r", now=svc.clock())
            thread = threading.Thread(target=b.run_job, args=(job_b,))
            thread.start()
            assert wait_for_lock_wait(svc, "%"), "worker b never waited on worker a's rows"
        thread.join(60)
        after = {i: (s, e) for i, s, e, _ in jobs(svc)}
        assert after[job_b.id] == ("done", None), after[job_b.id]
        with svc.engine.connect() as conn:
            attempts, result = conn.execute(select(Job.attempts, Job.result).where(Job.id == job_b.id)).one()
        assert str(result).endswith(":unchanged"), result
        with svc.engine.connect() as conn:
            versions = conn.execute(select(func.count()).select_from(ClaimVersion)).scalar_one()
        assert attempts == 0 and versions == 1
    finally:
        svc.close()


def test_the_driver_text_is_refused_where_parameters_need_processing() -> None:
    """:func:`pg_writes.execute_compiled` hands parameters to psycopg as they are: the statements it
    runs have no bind type that processes a value (else ``conn.execute`` would have sent another
    value), and a positional parameter style (SQLite's) is refused, not mis-compiled."""
    from sqlalchemy import JSON, bindparam, text
    from sqlalchemy.dialects import postgresql, sqlite

    from app.db import pg_writes

    pg = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    for stmt in (pg_writes.NEW_CLAIM, pg_writes.NEW_CLAIM_IF_ABSENT, pg_writes.NEW_CLAIM_IF_ABSENT_WITH_OUTCOME):
        sql = pg_writes.driver_text(stmt, pg)
        assert "%(id)s" in sql and "%(now)s" in sql and ":id" not in sql
    with pytest.raises(ValueError, match="need processing"):
        pg_writes.driver_text(text("SELECT CAST(:doc AS jsonb)").bindparams(bindparam("doc", type_=JSON())), pg)
    with pytest.raises(ValueError, match="not a named parameter style"):
        pg_writes.driver_text(pg_writes.NEW_CLAIM, sqlite.dialect())  # type: ignore[no-untyped-call]
