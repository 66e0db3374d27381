"""Console messages-browser benchmark: keyset pages over 1,000,000 jobs (not run in CI).

Seeds ``--rows`` jobs (default 1,000,000; 1 notification per 100 jobs, 20,000 encounters, 1 in 50
dead, outcomes for every encounter) into a fresh database (SQLite file by default, ``--url`` for
PostgreSQL), then times :func:`app.db.messages_repo.browse` pages of 50 through the indexes the
migration adds: newest page, a deep page (``before`` half-way), status, encounter, patient, time range,
notifications and deliveries. Target: p95 <= 200 ms per page for every query.
Last line: one JSON object (bench, metric, value, unit, target, pass, per_query).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.db import messages_repo, migrate
from app.db.engine import make_engine, read_only
from app.db.messages_repo import INBOX, JOB, OUTBOX, OUTCOME, MessageFilter

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 20_000


def seed(engine, rows: int) -> None:  # type: ignore[no-untyped-def]
    encounters = 20_000
    with engine.begin() as conn:
        notes = max(rows // 100, 1)
        for start in range(0, notes, CHUNK):
            conn.execute(
                insert(INBOX),
                [
                    {
                        "id": i + 1,
                        "subscription_id": f"sub-{i % 5}",
                        "bundle_id": f"b-{i}",
                        "kind": "event-notification",
                        "content_type": "application/fhir+json",
                        "body": b"{}",
                        "received_at": T0 + timedelta(seconds=i * 100),
                    }
                    for i in range(start, min(start + CHUNK, notes))
                ],
            )
        conn.execute(
            insert(OUTCOME),
            [
                {
                    "encounter": f"Encounter/e-{i}",
                    "patient": f"Patient/p-{i // 4}",
                    "status": "finished",
                    "outcome": "claim",
                    "claim_id": None,
                    "held": False,
                    "findings": [],
                    "fingerprint": "x",
                    "source_job_id": None,
                    "created_at": T0,
                    "updated_at": T0,
                }
                for i in range(encounters)
            ],
        )
    for start in range(0, rows, CHUNK):
        with engine.begin() as conn:
            conn.execute(
                insert(JOB),
                [
                    {
                        "id": i + 1,
                        "inbox_id": i // 100 + 1,
                        "subscription_id": f"sub-{(i // 100) % 5}",
                        "dedupe_key": None,
                        "event_number": i,
                        "key": f"Encounter/e-{i % encounters}",
                        "focus": f"Encounter/e-{i % encounters}",
                        "version_id": "1",
                        "status": "dead" if i % 50 == 0 else "done",
                        "attempts": 1,
                        "available_at": T0,
                        "created_at": T0 + timedelta(seconds=i),
                        "last_error": None,
                        "result": None,
                    }
                    for i in range(start, min(start + CHUNK, rows))
                ],
            )
            conn.execute(
                insert(OUTBOX),
                [
                    {
                        "destination": "clearinghouse",
                        "kind": "claim",
                        "key": f"Encounter/e-{i % encounters}",
                        "payload": {},
                        "status": "delivered",
                        "attempts": 1,
                        "available_at": T0,
                        "created_at": T0,
                    }
                    for i in range(start, min(start + CHUNK, rows), 10)
                ],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        started = time.perf_counter()
        seed(engine, args.rows)
        seeded = time.perf_counter() - started
        mid = T0 + timedelta(seconds=args.rows // 2)
        queries = {
            "jobs newest": ("jobs", MessageFilter(), None),
            "jobs deep page": ("jobs", MessageFilter(), args.rows // 2),
            "jobs status=dead": ("jobs", MessageFilter(status="dead"), None),
            "jobs encounter": ("jobs", MessageFilter(encounter="e-1234"), None),
            "jobs patient": ("jobs", MessageFilter(patient="p-321"), None),
            "jobs time range": ("jobs", MessageFilter(since=mid, until=mid + timedelta(hours=1)), None),
            "notifications subscription": ("notifications", MessageFilter(subscription="sub-3"), None),
            "deliveries encounter": ("deliveries", MessageFilter(encounter="e-70"), None),
        }
        per_query = {}
        for name, (kind, f, before) in queries.items():
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                with read_only(engine) as conn:
                    page = messages_repo.browse(conn, kind, f, before=before, limit=50)
                times.append((time.perf_counter() - t) * 1000)
            p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]
            per_query[name] = {"p95_ms": round(p95, 2), "rows": len(page.rows)}
            print(f"{name:30s} p95 {p95:8.2f} ms  ({len(page.rows)} rows)")
        engine.dispose()
    worst = max(q["p95_ms"] for q in per_query.values())
    print(f"seeded {args.rows} jobs in {seeded:.1f} s")
    print(
        json.dumps(
            {
                "bench": "console-messages",
                "metric": "worst p95 per page",
                "value": worst,
                "unit": "ms",
                "target": 200,
                "pass": worst <= 200,
                "rows": args.rows,
                "per_query": per_query,
            }
        )
    )


if __name__ == "__main__":
    main()
