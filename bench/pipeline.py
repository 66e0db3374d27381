"""Pipeline benchmark: encounters/s from a stored full-resource notification to a stored claim with findings.

Cases: encounters with 1, 4 and 10 completed orders (``--cases``; 4 by default), built from a clean
sample encounter (``examples/bundles``) cloned under fresh ids (shared clinicians and organisations
keep theirs). Each case runs on SQLite (1 worker process) and on the local PostgreSQL (2 worker
processes) by default, in a fresh database or private schema.

- **floor** (issue 12), in as many processes as the case has workers: the same notification bodies
  parsed with orjson, every resource validated with the hot-path validator (``app.fhir.schema``),
  written one row each to a plain table, one commit per encounter.
- **end to end**: real worker processes (``build_worker``: prefetch ahead, jobs committed
  ``worker.jobs_per_commit`` per transaction, a savepoint each only when the chunk had a failing
  job and runs again; no periodic duties) over
  notifications stored through ``intake_repo.store_notification`` in one transaction: parse,
  validate once, upsert the mirror, load the context, map, rules, persist claim version + findings
  + outbox rows + outcome, finish the job. Timed from the commit of the stored notifications to
  the last job done. Outbox delivery is not part of it.
- **latency**: notifications stored one per transaction at ``--rate``/s for ``--latency-seconds``
  while the workers run; p99 of job stored -> job done (its claim committed with it).

Warm-up encounters run first (imports, caches, reference data); then, on PostgreSQL, the schema is
ANALYZEd (``harness.analyze``: the local server has autovacuum off; ``--no-analyze`` skips it).
Logging at WARNING.
``--stages`` instead prints worker-thread CPU per stage and encounter for one in-process worker
(less sensitive to other load on the machine than the rates).
Targets: >= 300 encounters/s with 2 workers on PostgreSQL, >= 150/s with 1 on SQLite, each
>= 0.5 x its floor, p99 <= 1 s at 100/s; every job done with exactly one claim version.
Last line: one JSON object (bench, metric, value, unit, floor, ratio, target, pass).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_result  # noqa: E402
from harness import (  # noqa: E402
    WorkerPool,
    analyze,
    database,
    duplicate_claims,
    enqueue,
    floor_run,
    job_counts,
    latencies,
    percentile,
    settings_for,
    wait_for_done,
)

from app.cli.demo import notification_for  # noqa: E402
from app.db.models import ClaimVersion, Job  # noqa: E402
from app.db.subscriptions_repo import add_subscription  # noqa: E402
from app.domain.context import key_of  # noqa: E402
from app.logging import configure_logging  # noqa: E402
from app.services import Services, build_services  # noqa: E402

TEMPLATE = ROOT / "examples" / "bundles" / "encounter-001.json"  # clean: E/M, labs, two coverages
SHARED = frozenset({"Organization", "Practitioner", "PractitionerRole", "Location"})
LOINC, LOCAL = "http://loinc.org", "http://example.org/fhir/CodeSystem/local-orders"
ORDER_POOL = [
    (LOINC, "24323-8"), (LOINC, "58410-2"), (LOINC, "4548-4"), (LOINC, "57698-3"), (LOINC, "3016-3"),
    (LOINC, "24356-8"), (LOCAL, "XR-CHEST-2V"), (LOCAL, "EKG-12"), (LOCAL, "VENIPUNCTURE"), (LOCAL, "INJ-IM"),
]  # fmt: skip
SUBSCRIPTION = "claimbridge-demo"
TARGET_RATIO, TARGET_RATE_PG, TARGET_RATE_SQLITE, TARGET_P99 = 0.5, 300.0, 150.0, 1.0


def template_with_orders(orders: int) -> dict[str, Any]:
    """The template bundle with exactly ``orders`` completed ServiceRequests from the pool."""
    bundle: dict[str, Any] = orjson.loads(TEMPLATE.read_bytes())
    encounter = bundle["entry"][0]["resource"]
    is_order = [
        e for e in bundle["entry"]
        if e["resource"]["resourceType"] == "ServiceRequest"
        and e["resource"].get("encounter", {}).get("reference") == key_of(encounter)
    ]  # fmt: skip
    if not is_order:
        raise SystemExit(f"{TEMPLATE} has no order to copy")
    shape = is_order[0]["resource"]
    bundle["entry"] = [e for e in bundle["entry"] if e not in is_order]
    for n, (system, code) in enumerate(ORDER_POOL[:orders], start=1):
        order = copy.deepcopy(shape)
        order["id"] = f"sr-bench-{n}"
        order["code"] = {"coding": [{"system": system, "code": code}]}
        bundle["entry"].append(
            {"fullUrl": f"http://ehr.example.org/fhir/ServiceRequest/{order['id']}", "resource": order}
        )
    return bundle


def clone(bundle: dict[str, Any], suffix: str) -> list[dict[str, Any]]:
    """The bundle's resources, per-encounter ones renamed with ``suffix`` (references rewritten)."""
    resources = [e["resource"] for e in bundle["entry"]]
    renamed = {key_of(r) for r in resources if r["resourceType"] not in SHARED}

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (f"{v}-{suffix}" if k == "reference" and v in renamed else rewrite(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    out = []
    for resource in resources:
        copy_ = rewrite(resource)
        if key_of(resource) in renamed:
            copy_["id"] = f"{resource['id']}-{suffix}"
        out.append(copy_)
    return out


def encounters(orders: int, count: int, tag: str) -> list[list[dict[str, Any]]]:
    base = template_with_orders(orders)
    return [clone(base, f"{tag}{i}") for i in range(count)]


def notification_bodies(orders: int, count: int, tag: str, first_number: int) -> list[bytes]:
    """``count`` full-resource notifications (event numbers from ``first_number``) of fresh encounters."""
    out = []
    for n, resources in enumerate(encounters(orders, count, tag)):
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
        out.append(orjson.dumps(notification_for(bundle, number=first_number + n, run_id=f"bench-{tag}")))
    return out


@dataclass
class Case:
    db: str
    workers: int
    orders: int
    encounters: int
    warmup: int
    latency_seconds: float
    rate: float
    #: ANALYZE the PostgreSQL schema after the warm-up (:func:`harness.analyze`); False: a fresh schema's plans.
    analyze: bool = True


def open_services(url: str, tmp: Path) -> Services:
    services = build_services(settings_for(url, tmp))
    configure_logging(level="WARNING", fmt="json")
    with services.engine.begin() as conn:
        add_subscription(
            conn, subscription_id=SUBSCRIPTION, secret="bench-secret", ehr=None, signing_secret=None,
            content="full-resource", topic=None, heartbeat_period=None, now=services.clock(),
        )  # fmt: skip
    return services


def run_case(case: Case, tmp: Path) -> dict[str, Any]:
    with database(case.db, tmp, f"pipe{case.orders}") as url:
        services = open_services(url, tmp)
        engine, number = services.engine, 1
        warm = notification_bodies(case.orders, case.warmup, "w", number)
        number += len(warm)
        timed = notification_bodies(case.orders, case.encounters, "t", number)
        number += len(timed)
        floor = floor_run(url, timed, case.workers, "f")
        pool = WorkerPool(url, tmp, case.workers, overrides={"worker": {"poll_interval_seconds": 0.02}})
        pool.start()
        try:
            with engine.begin() as conn:
                enqueue(conn, SUBSCRIPTION, warm, services.clock())
            pool.release()
            wait_for_done(engine, len(warm), timeout=300)
            if case.analyze:
                analyze(engine)
            with engine.begin() as conn:
                enqueue(conn, SUBSCRIPTION, timed, services.clock())
            started = time.perf_counter()
            seconds = wait_for_done(engine, len(warm) + len(timed), timeout=1200) - started
            p99, p50, paced = latency_phase(case, engine, services, number)
        finally:
            pool.stop()
        counts = job_counts(engine)
        with engine.connect() as conn:
            versions = int(conn.execute(select(func.count()).select_from(ClaimVersion)).scalar_one())
        duplicates = duplicate_claims(engine)
        services.close()
    expected = len(warm) + len(timed) + paced
    if counts.get("done") != expected or versions != expected or duplicates:
        raise SystemExit(f"{case}: not every job made exactly one claim: {counts}, {versions} versions")
    return {
        "db": case.db,
        "workers": case.workers,
        "orders": case.orders,
        "rate": case.encounters / seconds,
        "floor_rate": case.encounters / floor,
        "p99": p99,
        "p50": p50,
        "duplicates": duplicates,
    }


def latency_phase(case: Case, engine: Any, services: Services, number: int) -> tuple[float, float, int]:
    """Notifications stored one per transaction at ``case.rate``/s while the workers run: p99, p50, count."""
    count = int(case.rate * case.latency_seconds)
    if count == 0:
        return float("nan"), float("nan"), 0
    bodies = notification_bodies(case.orders, count, "l", number)
    with engine.connect() as conn:
        since = int(conn.execute(select(func.coalesce(func.max(Job.id), 0))).scalar_one())
    started = time.perf_counter()
    for n, body in enumerate(bodies):
        delay = started + n / case.rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        with engine.begin() as conn:
            enqueue(conn, SUBSCRIPTION, [body], services.clock())
    wait_for_done(engine, 0, timeout=600)
    seconds = latencies(engine, since)
    return percentile(seconds, 0.99), percentile(seconds, 0.5), count


def profile_in_process(orders: int, count: int, tmp: Path) -> None:
    """pyinstrument over one in-process worker (SQLite) draining ``count`` encounters."""
    from pyinstrument import Profiler

    from app.services import build_worker

    with database("sqlite", tmp, "profile") as url:
        services = open_services(url, tmp)
        worker = dataclasses.replace(build_worker(services, worker_id="profile"), duties=())
        with services.engine.begin() as conn:
            enqueue(conn, SUBSCRIPTION, notification_bodies(orders, 20, "pw", 1), services.clock())
        worker.drain()
        with services.engine.begin() as conn:
            enqueue(conn, SUBSCRIPTION, notification_bodies(orders, count, "pt", 100), services.clock())
        profiler = Profiler(interval=0.0005)
        profiler.start()
        worker.drain()
        profiler.stop()
        worker.close()
        services.close()
    print(profiler.output_text(unicode=True))


# (module, function, label) timed by --stages: worker-thread CPU, so other load on the machine
# inflates it far less than wall time. Nested ones are included in their callers' figures.
STAGES = [
    ("app.worker.pipeline", "gather", "gather (stored versions, validation)"),
    ("app.worker.pipeline", "gather_batch", "gather + upsert of a batch (per job)"),
    ("app.db.mirror_repo", "write_upserts", "upsert: the write (in the batch gather)"),
    ("app.db.mirror_repo", "upsert_resources", "upsert"),
    ("app.worker.pipeline", "consider_orders", "prior-auth alerts of the orders"),
    ("app.db.mirror_repo", "load_context", "load context"),
    ("app.db.mirror_repo", "load_contexts", "load contexts (of a batch, in its gather)"),
    ("app.db.claims_repo", "prior_claims_for_patient", "prior claims"),
    ("app.db.eligibility_repo", "results_for_patient", "eligibility results"),
    ("app.evaluate", "map_encounter", "map"),
    ("app.evaluate", "check_claim", "rules"),
    ("app.worker.pipeline", "outcome_to_store", "outcome row"),
    ("app.worker.pipeline", "persist", "persist claim version"),
    ("app.worker.pipeline", "evaluate", "evaluate (map, rules, what they read)"),
    ("app.db.encounter_claims_repo", "claims_and_prior", "stored and prior claims"),
    ("app.db.eligibility_repo", "results_applied", "eligibility results applied"),
    ("app.evaluate", "with_claim_settings", "claim settings"),
    ("app.evaluate", "_with_fingerprint", "fingerprint"),
    ("app.evaluate", "outcome_for", "encounter outcome"),
    ("app.evaluate", "filing_deadline", "filing deadline"),
    ("app.worker.pipeline", "settle", "settle (retire, split)"),
    ("app.worker.pipeline", "outbox_rows", "outbox rows"),
    ("app.worker.pipeline", "take_notified_responses", "notified PAS responses"),
    ("app.worker.pipeline", "plan_checks", "eligibility checks planned"),
    ("app.db.eligibility_repo", "request_checks", "eligibility checks requested"),
    ("app.db.queue_repo", "finish_job", "finish job"),
]


def stages_in_process(db: str, orders: int, count: int, tmp: Path) -> None:
    """Worker-thread CPU per stage and encounter, one in-process worker draining ``count`` encounters."""
    import collections
    import functools
    import importlib

    from app.services import build_worker

    spent: collections.Counter[str] = collections.Counter()

    def timed(fn: Any, label: str) -> Any:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.thread_time() - started

        return run

    for module, name, label in STAGES:
        mod = importlib.import_module(module)
        setattr(mod, name, timed(getattr(mod, name), label))
    with database(db, tmp, "stages") as url:
        services = open_services(url, tmp)
        worker = dataclasses.replace(build_worker(services, worker_id="stages"), duties=())
        with services.engine.begin() as conn:
            enqueue(conn, SUBSCRIPTION, notification_bodies(orders, 20, "sw", 1), services.clock())
        worker.drain()
        analyze(services.engine)
        spent.clear()
        with services.engine.begin() as conn:
            enqueue(conn, SUBSCRIPTION, notification_bodies(orders, count, "st", 100), services.clock())
        wall, cpu = time.perf_counter(), time.thread_time()
        worker.drain()
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        worker.close()
        services.close()
    print(f"{db}, {orders} orders, one in-process worker, {count} encounters: per encounter")
    for label, seconds in spent.most_common():
        print(f"  {label:40} {seconds / count * 1000:6.2f} ms CPU")
    total = f"{cpu / count * 1000:6.2f} ms CPU, {wall / count * 1000:.2f} ms wall"
    print(f"  {'worker thread in all':40} {total}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both (comma-separated)")
    parser.add_argument("--workers-sqlite", type=int, default=1)
    parser.add_argument("--workers-postgres", type=int, default=2)
    parser.add_argument("--encounters", type=int, default=600, help="timed encounters per case")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--cases", default="4", help="orders per encounter, comma-separated (e.g. 1,4,10)")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="paced phase (0: skip)")
    parser.add_argument("--rate", type=float, default=100.0, help="notifications/s of the paced phase")
    parser.add_argument(
        "--no-analyze", action="store_true", help="PostgreSQL: no ANALYZE after the warm-up (a fresh schema's plans)"
    )
    parser.add_argument("--profile", action="store_true", help="pyinstrument one in-process SQLite worker first")
    parser.add_argument(
        "--stages", action="store_true", help="only: worker-thread CPU per stage, one in-process worker per --db"
    )
    args = parser.parse_args()
    os.environ.setdefault("CLAIMBRIDGE_SETTINGS_FILE", os.devnull)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as d:
        if args.stages:
            for db in args.db.split(","):
                stages_in_process(db, int(args.cases.split(",")[0]), args.encounters, Path(d))
            return
        if args.profile:
            profile_in_process(4, args.encounters, Path(d))
        for db in args.db.split(","):
            workers = args.workers_sqlite if db == "sqlite" else args.workers_postgres
            for orders in (int(c) for c in args.cases.split(",")):
                case = Case(
                    db, workers, orders, args.encounters, args.warmup, args.latency_seconds, args.rate,
                    analyze=not args.no_analyze,
                )  # fmt: skip
                r = run_case(case, Path(d))
                results.append(r)
                print(
                    f"{db:8} {workers} worker(s), {orders:>2} order(s): end to end {r['rate']:7.1f}/s, "
                    f"floor {r['floor_rate']:7.1f}/s, ratio {r['rate'] / r['floor_rate']:.2f}; "
                    f"at {args.rate:.0f}/s notification -> stored claim p50 {r['p50'] * 1000:.0f} ms, "
                    f"p99 {r['p99'] * 1000:.0f} ms; duplicates {r['duplicates']}",
                    flush=True,
                )
    verdict(results, args.latency_seconds > 0)


def verdict(results: list[dict[str, Any]], latency: bool) -> None:
    checks = {}
    for r in results:
        name = f"{r['db']}_{r['workers']}w_{r['orders']}o"
        target = TARGET_RATE_PG if r["db"] == "postgres" else TARGET_RATE_SQLITE
        checks[name] = {
            "rate": round(r["rate"], 1),
            "ratio": round(r["rate"] / r["floor_rate"], 3),
            "p99_s": round(r["p99"], 3) if latency else None,
            "pass": r["rate"] >= target
            and r["rate"] / r["floor_rate"] >= TARGET_RATIO
            and (not latency or r["p99"] <= TARGET_P99),
        }
    main_case = next((r for r in results if r["db"] == "postgres" and r["orders"] == 4), results[0])
    print_result(
        bench="pipeline",
        metric=f"encounters_per_second_{main_case['orders']}_orders_{main_case['db']}_{main_case['workers']}_workers",
        value=main_case["rate"],
        unit="encounters/s",
        floor=main_case["floor_rate"],
        ratio=main_case["rate"] / main_case["floor_rate"],
        target={
            "postgres_2_workers": TARGET_RATE_PG,
            "sqlite_1_worker": TARGET_RATE_SQLITE,
            "ratio": TARGET_RATIO,
            "p99_s_at_100_per_s": TARGET_P99,
            "cases": checks,
        },
        passed=all(c["pass"] for c in checks.values()),
    )


if __name__ == "__main__":
    main()
