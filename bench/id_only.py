"""id-only benchmark: notifications naming only the encounter, the worker fetching it from the EHR.

The test EHR (``tests/ehr``, in-process over ``httpx.ASGITransport``, SMART backend auth) answers every
FHIR request after a fixed delay (``--delays``, default 5 ms and 25 ms). Per delay, on a fresh SQLite
database, with the real API (``POST /notifications``) and the real worker (``build_worker``'s ``Worker``):

- throughput: ``--count`` id-only notifications stored, then ``drain()`` timed -> notifications/s;
- EHR round trips per notification (FHIR API requests only; the token is fetched once);
- latency: another ``--count`` notifications posted at ``--rate``/s while the worker runs in its own
  thread -> p50/p99 of (claim version stored - notification stored).

Target: <= 2 EHR round trips per encounter notification, whatever the number of orders (floor: 2 —
the encounter search with its includes, and the coverage search). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.api.app import create_app  # noqa: E402
from app.db import ehr_repo  # noqa: E402
from app.db.ehr_repo import EhrRecord  # noqa: E402
from app.db.models import ClaimVersion, Job  # noqa: E402
from app.db.subscriptions_repo import add_subscription  # noqa: E402
from app.ehr.gateway import EhrGateway  # noqa: E402
from app.fhir.keys import generate_keys  # noqa: E402
from app.fhir.notifications_build import NotificationEvent, SubscriptionState, build_notification_bundle  # noqa: E402
from app.services import Services, build_services  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.ehr.server import EhrServer  # noqa: E402
from tests.spine.helpers import clone_bundle, sample_bundles  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"
SUB = "bench-encounters"


def settings(tmp: Path) -> Settings:
    return Settings(
        env="test",
        database_url=f"sqlite:///{tmp / 'bench.db'}",
        config_dir=ROOT / "config",
        refdata_dir=tmp / "refdata",
        api={"admin_token": "bench-admin-token-0123456789"},
        adapters={"out_dir": str(tmp / "out")},
        ehr={"sweep_interval_seconds": 3600},
        log_level="WARNING",
    )


def seed(ehr: EhrServer, count: int, tag: str) -> list[dict[str, Any]]:
    """``count`` encounters (sample bundles under new ids) with their context, stored without events."""
    samples, encounters = sample_bundles(), []
    for i in range(count):
        bundle = clone_bundle(samples[i % len(samples)], f"{tag}{i}")
        resources = [e["resource"] for e in bundle["entry"]]
        encounter = next(r for r in resources if r["resourceType"] == "Encounter" and "-hist-" not in r["id"])
        ehr.seed(*resources)
        encounters.append(encounter)
    return encounters


def id_only(ehr: EhrServer, encounter: dict[str, Any], number: int) -> bytes:
    state = SubscriptionState(ehr.base_url, SUB, f"{ehr.base_url}/topics/encounter", "active", number)
    event = NotificationEvent(number, datetime.now(UTC).isoformat(), encounter)
    bundle = build_notification_bundle(
        state, notification_type="event-notification", timestamp=event.timestamp, events=[event], content="id-only"
    )
    return orjson.dumps(bundle)


class Bench:
    def __init__(self, services: Services, ehr: EhrServer, api: httpx.AsyncClient) -> None:
        self.services, self.ehr, self.api = services, ehr, api
        self.worker = services.worker(worker_id="bench")
        self.number = 0

    async def post(self, encounter: dict[str, Any]) -> None:
        self.number += 1
        headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
        response = await self.api.post(
            "/notifications", content=id_only(self.ehr, encounter, self.number), headers=headers
        )
        assert response.status_code == 202, response.text

    def fhir_requests(self) -> int:
        return sum(1 for _, path in self.ehr.requests if path.startswith("/fhir/"))

    async def throughput(self, encounters: list[dict[str, Any]]) -> tuple[float, float]:
        for encounter in encounters:
            await self.post(encounter)
        before = self.fhir_requests()
        started = time.perf_counter()
        await asyncio.to_thread(self.worker.drain)
        elapsed = time.perf_counter() - started
        return len(encounters) / elapsed, (self.fhir_requests() - before) / len(encounters)

    async def latency(self, encounters: list[dict[str, Any]], rate: float) -> list[float]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                if self.worker.run_once() == 0:
                    time.sleep(0.001)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        first = self.number + 1
        started = time.perf_counter()
        for i, encounter in enumerate(encounters):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            await self.post(encounter)
        while self.pending():  # noqa: ASYNC110  (polls the database, not an in-process flag)
            await asyncio.sleep(0.01)
        stop.set()
        thread.join()
        return self.latencies(first)

    def pending(self) -> int:
        with self.services.engine.connect() as conn:
            return len(conn.execute(select(Job.id).where(Job.status == "pending")).all())

    def latencies(self, first_number: int) -> list[float]:
        with self.services.engine.connect() as conn:
            jobs = conn.execute(select(Job.id, Job.created_at).where(Job.event_number >= first_number)).all()
            stored = dict(conn.execute(select(ClaimVersion.source_job_id, ClaimVersion.created_at)).all())
        return [(stored[j.id] - j.created_at).total_seconds() for j in jobs if j.id in stored]


async def run_one(delay: float, count: int, rate: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        ehr = EhrServer()
        services = build_services(
            settings(tmp),
            gateway=lambda engine, s: EhrGateway(
                engine=engine, settings=s.ehr, transport=lambda _record: httpx.ASGITransport(app=ehr.app)
            ),
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(services)), base_url="http://cb"
        ) as api:
            private, jwks = generate_keys(tmp / "keys", "ES384")
            ehr.register_client("claimbridge", json.loads(jwks.read_text()))
            with services.engine.begin() as conn:
                record = EhrRecord("bench", ehr.base_url, "smart-backend", "claimbridge", str(private), True, False, {})
                ehr_repo.add_ehr(conn, record, now=datetime.now(UTC))
                add_subscription(
                    conn,
                    subscription_id=SUB,
                    secret=SECRET,
                    ehr="bench",
                    signing_secret=None,
                    content="id-only",
                    topic=None,
                    heartbeat_period=None,
                    now=datetime.now(UTC),
                    resource_types=("Encounter",),
                    fresh=True,
                )
            warm, batch_a, batch_b = seed(ehr, 5, "w"), seed(ehr, count, "a"), seed(ehr, count, "b")
            ehr.faults.delay_seconds = delay
            bench = Bench(services, ehr, api)
            await bench.throughput(warm)  # token, connection, caches
            rate_per_s, trips = await bench.throughput(batch_a)
            latencies = sorted(await bench.latency(batch_b, rate))
            services.close()
    return {
        "delay_ms": delay * 1000,
        "notifications_per_s": rate_per_s,
        "round_trips": trips,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "claims": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="notifications per phase")
    parser.add_argument("--rate", type=float, default=20.0, help="notifications/s in the latency phase")
    parser.add_argument("--delays", type=float, nargs="+", default=[0.005, 0.025], help="EHR answer delay (s)")
    args = parser.parse_args()
    results = [asyncio.run(run_one(delay, args.count, args.rate)) for delay in args.delays]
    for r in results:
        print(
            f"EHR delay {r['delay_ms']:.0f} ms: {r['notifications_per_s']:.1f} notifications/s, "
            f"{r['round_trips']:.2f} EHR round trips/notification, p50 {r['p50_ms']:.0f} ms, "
            f"p99 {r['p99_ms']:.0f} ms notification -> claim stored at {args.rate:.0f}/s ({r['claims']:.0f} claims)"
        )
    worst = max(r["round_trips"] for r in results)
    print(
        json.dumps(
            {
                "bench": "id_only",
                "metric": "ehr_round_trips_per_notification",
                "value": round(worst, 3),
                "unit": "requests",
                "floor": 2,
                "ratio": round(worst / 2, 3),
                "target": 2,
                "pass": worst <= 2,
            }
        )
    )


if __name__ == "__main__":
    main()
