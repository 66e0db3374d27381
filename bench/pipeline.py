"""Pipeline benchmark: encounters/s from a full-resource notification to a stored claim with findings.

Cases: encounters with 1, 4 and 10 completed orders, built from a clean sample encounter
(``examples/bundles``) cloned under fresh ids (shared clinicians and organisations keep theirs).

- **floor**: validating the notification's resources with ``app.fhir.r4.validate_resource`` alone.
- **end to end**: the real worker (``Worker.drain`` -> ``run_job`` -> ``process_job``) over jobs
  enqueued beforehand through ``intake_repo.store_notification``, on SQLite (WAL): parse the stored
  notification, validate its resources once, upsert the mirror, load the context, map, run the
  rules, persist claim version + findings + outbox rows, finish the job, one transaction per job.
  Only the drain is timed; outbox delivery is not part of it (no dispatcher).

A few warm-up encounters run first in both measurements (imports, caches, reference data).
Logging runs at WARNING (the per-job INFO line would time the terminal, not the pipeline).

Targets: end to end >= 0.5 x floor, and >= 300 encounters/s with 4 orders (single process).
Last line: one JSON object (bench, metric, value, unit, floor, ratio, target, pass).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import os
import pstats
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

from app.cli.demo import notification_for  # noqa: E402
from app.db import intake_repo  # noqa: E402
from app.db.models import ClaimVersion, FindingRow, Job, Outbox  # noqa: E402
from app.db.subscriptions_repo import add_subscription  # noqa: E402
from app.domain.context import key_of  # noqa: E402
from app.fhir.r4 import validate_resource  # noqa: E402
from app.intake.notification import parse_notification  # noqa: E402
from app.logging import configure_logging  # noqa: E402
from app.services import Services, build_services  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.worker.runner import Worker  # noqa: E402

TEMPLATE = ROOT / "examples" / "bundles" / "encounter-001.json"  # clean: E/M, labs, two coverages
SHARED = frozenset({"Organization", "Practitioner", "PractitionerRole", "Location"})
LOINC, LOCAL = "http://loinc.org", "http://example.org/fhir/CodeSystem/local-orders"
ORDER_POOL = [
    (LOINC, "24323-8"), (LOINC, "58410-2"), (LOINC, "4548-4"), (LOINC, "57698-3"), (LOINC, "3016-3"),
    (LOINC, "24356-8"), (LOCAL, "XR-CHEST-2V"), (LOCAL, "EKG-12"), (LOCAL, "VENIPUNCTURE"), (LOCAL, "INJ-IM"),
]  # fmt: skip
SUBSCRIPTION = "claimbridge-demo"
TARGET_RATIO, TARGET_RATE = 0.5, 300.0


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


def floor_seconds(batches: list[list[dict[str, Any]]]) -> float:
    started = time.perf_counter()
    for resources in batches:
        for resource in resources:
            validate_resource(resource)
    return time.perf_counter() - started


@dataclass
class Store:
    services: Services
    worker: Worker
    number: int = 0

    def enqueue(self, batches: list[list[dict[str, Any]]]) -> None:
        with self.services.engine.begin() as conn:
            for resources in batches:
                self.number += 1
                bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
                body = orjson.dumps(notification_for(bundle, number=self.number, run_id="bench"))
                note = parse_notification(body)
                intake_repo.store_notification(
                    conn, subscription_id=SUBSCRIPTION, note=note, body=body,
                    content_type="application/fhir+json", now=self.services.clock(),
                )  # fmt: skip

    def counts(self) -> dict[str, int]:
        with self.services.engine.connect() as conn:

            def count(model: Any, *where: Any) -> int:
                return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())

            return {
                "jobs_done": count(Job, Job.status == "done"),
                "jobs_other": count(Job, Job.status != "done"),
                "claim_versions": count(ClaimVersion),
                "findings": count(FindingRow),
                "outbox": count(Outbox),
            }


def open_store(tmp: Path, name: str) -> Store:
    settings = Settings(
        database_url=f"sqlite:///{tmp / name}.db",
        config_dir=ROOT / "config",
        refdata_dir=tmp / "refdata",
        log_level="WARNING",
        adapters={"out_dir": str(tmp / "out")},
    )
    services = build_services(settings)
    configure_logging(level="WARNING", fmt="json")
    with services.engine.begin() as conn:
        add_subscription(
            conn, subscription_id=SUBSCRIPTION, secret="bench-secret", ehr=None, signing_secret=None,
            content="full-resource", topic=None, heartbeat_period=None, now=services.clock(),
        )  # fmt: skip
    worker = Worker(
        engine=services.engine,
        runtime=services.runtime,
        settings=services.settings.worker,
        metrics=services.metrics,
        worker_id="bench",
    )
    return Store(services, worker)


def end_to_end_seconds(
    store: Store, batches: list[list[dict[str, Any]]], profile: cProfile.Profile | None
) -> tuple[float, dict[str, int]]:
    """Wall seconds of the drain; the counts include ``cpu_us`` (this process's CPU time)."""
    store.enqueue(batches)
    if profile is not None:
        profile.enable()
    started, cpu = time.perf_counter(), time.process_time()
    store.worker.drain()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profile is not None:
        profile.disable()
    return seconds, {**store.counts(), "cpu_us": int(cpu * 1e6)}


STAGES = (  # (module, attribute, label): the pipeline's steps as the worker calls them
    ("app.worker.pipeline", "gather", "parse + validate"),
    ("app.worker.pipeline", "is_superseded", "superseded check"),
    ("app.db.mirror_repo", "upsert_resources", "upsert mirror"),
    ("app.db.mirror_repo", "encounters_for", "encounters_for"),
    ("app.db.mirror_repo", "load_context", "load context"),
    ("app.db.claims_repo", "prior_claims_for_patient", "prior claims"),
    ("app.evaluate", "map_encounter", "map"),
    ("app.evaluate", "check_claim", "rules"),
    ("app.worker.pipeline", "persist", "persist claim/findings/outbox"),
    ("app.db.queue_repo", "finish_job", "finish job"),
    ("app.db.queue_repo", "claim_jobs", "claim jobs"),
)


def install_stage_timers() -> dict[str, float]:
    """Wrap each stage with a wall-clock timer (diagnostics only; adds ~1 us per call)."""
    import importlib

    totals: dict[str, float] = {}
    for module_name, attr, label in STAGES:
        module = importlib.import_module(module_name)
        original = getattr(module, attr)

        def timed(*args: Any, _f: Any = original, _label: str = label, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                totals[_label] = totals.get(_label, 0.0) + time.perf_counter() - started

        setattr(module, attr, timed)
        totals[label] = 0.0
    return totals


def run_case(orders: int, count: int, warmup: int, tmp: Path, profile: cProfile.Profile | None) -> dict[str, Any]:
    warm, timed = encounters(orders, warmup, f"w{orders}-"), encounters(orders, count, f"t{orders}-")
    resources = sum(len(r) for r in timed) / count
    floor_seconds(warm)
    floor = floor_seconds(timed)
    store = open_store(tmp, f"case{orders}")
    end_to_end_seconds(store, warm, None)
    seconds, counts = end_to_end_seconds(store, timed, profile)
    store.services.close()
    expected = warmup + count
    if counts["jobs_done"] != expected or counts["jobs_other"] or counts["claim_versions"] != expected:
        raise SystemExit(f"case {orders} orders: not every job made a claim: {counts}")
    return {
        "orders": orders,
        "resources": resources,
        "floor_rate": count / floor,
        "rate": count / seconds,
        "ms_per_encounter": 1000 * seconds / count,
        "cpu_ms_per_encounter": counts["cpu_us"] / 1000 / count,
        "floor_ms": 1000 * floor / count,
        "findings_per_claim": counts["findings"] / expected,
        "outbox_per_claim": counts["outbox"] / expected,
    }


def print_breakdown(count: int, warmup: int, cases: list[int]) -> None:
    """Re-run each case with stage timers (after the measured runs, so they stay untouched)."""
    totals = install_stage_timers()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as d:
        for orders in cases:
            store = open_store(Path(d), f"breakdown{orders}")
            end_to_end_seconds(store, encounters(orders, warmup, f"bw{orders}-"), None)
            for label in totals:
                totals[label] = 0.0
            seconds, _ = end_to_end_seconds(store, encounters(orders, count, f"bt{orders}-"), None)
            store.services.close()
            parts = ", ".join(f"{label} {1000 * v / count:.2f}" for label, v in totals.items())
            rest = 1000 * (seconds - sum(totals.values())) / count
            print(f"{orders:>2} order(s) ms/encounter: {parts}, other (commits, SQL of run_job) {rest:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encounters", type=int, default=400, help="timed encounters per case")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--cases", default="1,4,10", help="orders per encounter, comma-separated")
    parser.add_argument("--profile", action="store_true", help="cProfile the 4-order end-to-end drain")
    parser.add_argument("--breakdown", action="store_true", help="wall time per pipeline stage (separate run)")
    args = parser.parse_args()
    os.environ.setdefault("CLAIMBRIDGE_SETTINGS_FILE", os.devnull)
    cases = [int(c) for c in args.cases.split(",")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as d:
        for orders in cases:
            profile = cProfile.Profile() if args.profile and orders == 4 else None
            r = results[orders] = run_case(orders, args.encounters, args.warmup, Path(d), profile)
            print(
                f"{orders:>2} order(s), {r['resources']:.0f} resources: end to end {r['rate']:7.1f}/s "
                f"({r['ms_per_encounter']:.2f} ms, cpu {r['cpu_ms_per_encounter']:.2f} ms), "
                f"floor {r['floor_rate']:7.1f}/s ({r['floor_ms']:.2f} ms), "
                f"ratio {r['rate'] / r['floor_rate']:.2f}; {r['findings_per_claim']:.1f} findings and "
                f"{r['outbox_per_claim']:.1f} outbox rows per claim",
                flush=True,
            )
            if profile is not None:
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(30)
                print(out.getvalue())
    if args.breakdown:
        print_breakdown(args.encounters, args.warmup, cases)
    main_case = results.get(4) or results[cases[0]]
    ratios = {o: r["rate"] / r["floor_rate"] for o, r in results.items()}
    passed = all(v >= TARGET_RATIO for v in ratios.values()) and (4 not in results or results[4]["rate"] >= TARGET_RATE)
    print_result(
        bench="pipeline",
        metric=f"encounters_per_second_{main_case['orders']}_orders",
        value=main_case["rate"],
        unit="encounters/s",
        floor=main_case["floor_rate"],
        ratio=main_case["rate"] / main_case["floor_rate"],
        target={"value": TARGET_RATE, "ratio": TARGET_RATIO, "min_ratio_all_cases": round(min(ratios.values()), 3)},
        passed=passed,
    )


if __name__ == "__main__":
    main()
