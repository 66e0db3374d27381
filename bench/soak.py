"""Soak: the seeded workload (``bench/workload.py``) at a fixed rate through the real API and worker
processes, with kill -9 crashes, on SQLite and on PostgreSQL; then reconciliation (issue 17 items 3, 5).

Per database: a fresh database (or private PostgreSQL schema), one ``claimbridge serve --no-worker``
process and ``--workers`` ``claimbridge worker`` processes (folder adapters: write-back and 837P
files go to a temporary folder). A poster sends the stream at ``--rate`` notifications/s the way an
EHR does: a connection error or a 5xx is retried (after Retry-After when given) until the server
answers; a 4xx is final (refused). ``--crashes`` times, at seeded random moments, the API or a
worker is killed with SIGKILL and started again; the time until it serves again (API: ``/readyz``
answers 200, database reachable and schema current; worker: its heartbeat file is touched) is its
resume time. ``app/``'s ``.pyc`` files are written first (:func:`harness.compile_bytecode`).

Reconciliation, after the queue drained:

- lost: acknowledged (2xx) events with no job, or jobs neither done nor dead;
- duplicate claims: a claim version stored twice with the same content (claim id + fingerprint);
- stale overwrites: an encounter whose mirror copy is not the newest version acknowledged;
- poison: every ``invalid-code`` delivery refused at intake (4xx) or dead-lettered with a reason
  naming the element; every ``malformed`` one refused; every ``no-coverage`` one processed with an
  outcome; dead letters replayed (``dlq replay``) fail again with the same reason (the input is
  invalid: its fix is a corrected resend, which the soak sends and checks is billed).

Targets: 0 lost, 0 duplicates, 0 stale, poison accounted for, every resume <= 5 s.
Last line: one JSON object (bench, metric, value, unit, floor, ratio, target, pass).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_result
from harness import compile_bytecode, database, duplicate_claims, job_counts, kept_dir, settings_for
from procs import Processes
from workload import Delivery, Workload

from app.db import intake_repo, mirror_repo, queue_repo
from app.db.models import EncounterOutcomeRow, Job
from app.db.subscriptions_repo import add_subscription
from app.services import build_services

SUBSCRIPTION = "claimbridge-demo"
SECRET = "soak-subscription-secret-0123456789"
TARGET_RESUME_S = 5.0


def post(client: httpx.Client, port: int, body: bytes, *, give_up: float) -> int:
    """POST like an EHR: retried on connection errors and 5xx until an answer; returns the status."""
    headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
    while True:
        try:
            response = client.post(f"http://127.0.0.1:{port}/notifications", content=body, headers=headers)
            if response.status_code < 500:
                return response.status_code
            wait = float(response.headers.get("Retry-After", "0.2"))
        except httpx.TransportError:
            wait = 0.05
        if time.monotonic() > give_up:
            return 0
        time.sleep(min(wait, 2.0))


@dataclass
class Run:
    statuses: dict[int, int] = field(default_factory=dict)  # delivery seq -> HTTP status
    resumes: list[tuple[str, float]] = field(default_factory=list)


def soak(
    procs: Processes, stream: list[Delivery], *, rate: float, crashes: int, seed: int, ready_timeout: float = 60
) -> Run:
    rng = random.Random(seed)
    run = Run()
    crash_at = sorted(rng.sample(range(len(stream) // 10, max(len(stream) // 10 + 1, len(stream) * 9 // 10)), crashes))
    started = time.monotonic()
    with httpx.Client(timeout=10) as client:
        for n, delivery in enumerate(stream):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            while crash_at and crash_at[0] == n:
                crash_at.pop(0)
                target = rng.randrange(procs.workers + 1)
                if target == procs.workers:
                    run.resumes.append(("api", procs.crash_api(ready_timeout)))
                else:
                    run.resumes.append((f"worker{target}", procs.crash_worker(target, ready_timeout)))
            run.statuses[delivery.seq] = post(client, procs.port, delivery.body, give_up=time.monotonic() + 60)
    return run


def drain(engine: Any, timeout: float) -> None:
    """Until no notification waits for expansion and no job is pending (an acknowledged notification
    becomes jobs one worker round later: the job queue alone may look empty before that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            inbox = intake_repo.inbox_counts(conn)
        if not inbox.get("pending") and not job_counts(engine).get("pending"):
            return
        time.sleep(0.2)
    raise SystemExit(f"the queue did not drain within {timeout} s: {job_counts(engine)}")


def reconcile(engine: Any, stream: list[Delivery], run: Run) -> dict[str, Any]:
    acked = [d for d in stream if 200 <= run.statuses.get(d.seq, 0) < 300]
    refused = [d for d in stream if 400 <= run.statuses.get(d.seq, 0) < 500]
    with engine.connect() as conn:
        jobs = {r.event_number: r for r in conn.execute(select(Job.event_number, Job.status, Job.last_error))}
        newest: dict[str, int] = {}
        for d in acked:
            if d.poison in (None, "no-coverage"):
                newest[d.encounter] = max(newest.get(d.encounter, 0), d.version)
        stored = mirror_repo.stored_versions(conn, newest)
        outcomes = {r.encounter for r in conn.execute(select(EncounterOutcomeRow.encounter))}
    lost = [d.seq for d in acked if d.poison is None and (d.number not in jobs or jobs[d.number].status != "done")]
    stale = [e for e, v in newest.items() if str(v) != (stored.get(e) or (None, None))[0]]
    poison_ok, poison_bad = 0, []
    for d in stream:
        if d.poison is None:
            continue
        status, job = run.statuses.get(d.seq, 0), jobs.get(d.number)
        if d.poison == "malformed":
            good = 400 <= status < 500
        elif d.poison == "invalid-code":
            good = (400 <= status < 500) or (
                job is not None and job.status == "dead" and "status" in (job.last_error or "")
            )
        else:  # no-coverage: processed, the encounter has an outcome
            good = job is not None and job.status == "done" and d.encounter in outcomes
        poison_ok += good
        if not good:
            poison_bad.append((d.seq, d.poison, status, job.status if job else None))
    return {
        "sent": len(stream),
        "acknowledged": len(acked),
        "refused_4xx": len(refused),
        "unanswered": len(stream) - len(acked) - len(refused),
        "lost": len(lost),
        "duplicate_claims": duplicate_claims(engine),
        "stale_overwrites": len(stale),
        "poison": sum(1 for d in stream if d.poison),
        "poison_accounted": poison_ok,
        "poison_unaccounted": poison_bad,
        "jobs": job_counts(engine),
    }


def replay_dead(engine: Any, clock: Any, timeout: float) -> tuple[int, int]:
    """Replay every dead letter; returns (replayed, dead again with the same reason)."""
    with engine.connect() as conn:
        before = {d.id: d.reason for d in queue_repo.list_dead(conn)}
    with engine.begin() as conn:
        replayed = queue_repo.replay(conn, job_ids=sorted(before), now=clock())
    drain(engine, timeout)
    with engine.connect() as conn:
        after = {d.id: d.reason for d in queue_repo.list_dead(conn)}
    return replayed, sum(1 for i, reason in before.items() if after.get(i) == reason)


def resend_fixed(procs: Processes, workload: Workload, stream: list[Delivery], engine: Any) -> bool:
    """The fix for an invalid-code dead letter: the EHR resends the encounter corrected; it is billed."""
    poison = next((d for d in stream if d.poison == "invalid-code"), None)
    if poison is None:
        return True
    fixed = workload.corrected(poison)
    with httpx.Client(timeout=10) as client:
        if not 200 <= post(client, procs.port, fixed.body, give_up=time.monotonic() + 30) < 300:
            return False
    drain(engine, 120)
    with engine.connect() as conn:
        stored = mirror_repo.stored_versions(conn, [fixed.encounter]).get(fixed.encounter)
        outcome = conn.execute(
            select(EncounterOutcomeRow.claim_id).where(EncounterOutcomeRow.encounter == fixed.encounter)
        ).scalar_one_or_none()
    return stored is not None and stored[0] == str(fixed.version) and outcome is not None


def run_db(kind: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    workers = args.workers_sqlite if kind == "sqlite" else args.workers_postgres
    tmp.mkdir(parents=True, exist_ok=True)
    with database(kind, tmp, "soak") as url:
        services = build_services(settings_for(url, tmp))
        with services.engine.begin() as conn:
            add_subscription(
                conn, subscription_id=SUBSCRIPTION, secret=SECRET, ehr=None, signing_secret=None,
                content="full-resource", topic=None, heartbeat_period=None, now=services.clock(), status="active",
            )  # fmt: skip
        workload = Workload(args.seed, args.encounters, tag=f"soak{kind}")
        stream = workload.generate(int(args.rate * args.seconds))
        procs = Processes(url, tmp, workers, log_level=args.log_level)
        try:
            procs.start(args.ready_timeout)
            run = soak(
                procs, stream, rate=args.rate, crashes=args.crashes, seed=args.seed, ready_timeout=args.ready_timeout
            )
            drain(services.engine, 600)
            table = reconcile(services.engine, stream, run)
            replayed, dead_again = replay_dead(services.engine, services.clock, 300)
            fixed = resend_fixed(procs, workload, stream, services.engine)
        finally:
            procs.stop()
        services.close()
    table.update(
        db=kind,
        workers=workers,
        crashes=len(run.resumes),
        resume_max_s=round(max((s for _, s in run.resumes), default=0.0), 2),
        resumes=[(who, round(s, 2)) for who, s in run.resumes],
        replayed=replayed,
        replayed_dead_again_same_reason=dead_again,
        fixed_resend_billed=fixed,
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=120.0, help="soak length per database")
    parser.add_argument("--rate", type=float, default=20.0, help="notifications/s")
    parser.add_argument("--crashes", type=int, default=10, help="kill -9 of the API or a worker, per database")
    parser.add_argument("--encounters", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers-sqlite", type=int, default=1)
    parser.add_argument("--workers-postgres", type=int, default=2)
    parser.add_argument("--ready-timeout", type=float, default=120, help="s a restart may take before it is diagnosed")
    parser.add_argument("--log-level", default="WARNING", help="of the API and worker processes (logs kept)")
    args = parser.parse_args()
    os.environ.setdefault("CLAIMBRIDGE_SETTINGS_FILE", os.devnull)
    compile_bytecode()
    tables = []
    d = kept_dir("soak")
    print(f"run folder (databases, process logs): {d}", flush=True)
    for kind in args.db.split(","):
        table = run_db(kind, args, d / kind)
        tables.append(table)
        print(f"--- {kind}: reconciliation")
        for k, v in table.items():
            print(f"  {k:34} {v}")
    passed = all(
        t["lost"] == 0
        and t["duplicate_claims"] == 0
        and t["stale_overwrites"] == 0
        and t["unanswered"] == 0
        and not t["poison_unaccounted"]
        and t["replayed_dead_again_same_reason"] == t["replayed"]
        and t["fixed_resend_billed"]
        and t["resume_max_s"] <= TARGET_RESUME_S
        for t in tables
    )
    print_result(
        bench="soak",
        metric="lost_duplicate_stale",
        value=float(sum(t["lost"] + t["duplicate_claims"] + t["stale_overwrites"] for t in tables)),
        unit="events",
        floor=None,
        ratio=None,
        target={
            "lost": 0,
            "duplicates": 0,
            "stale": 0,
            "resume_max_s": TARGET_RESUME_S,
            "per_db": {
                t["db"]: {k: t[k] for k in ("lost", "duplicate_claims", "stale_overwrites", "resume_max_s")}
                for t in tables
            },
        },
        passed=passed,
    )


if __name__ == "__main__":
    main()
