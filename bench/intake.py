"""Intake benchmark: notifications/s acknowledged by ``POST /notifications`` and latency at 500/s.

Floor, measured in the same run: a bare FastAPI endpoint (same uvicorn, uvloop, httptools) that
parses the JSON with orjson and inserts one row into SQLite. Ours: ``claimbridge serve --no-worker``
on SQLite (authentication, parsing and checks, one inbox row per notification in a group commit;
the worker expands it into jobs). The servers run as subprocesses on free loopback ports, one after
the other; the load generator shares the same 2 cores.

Durability differs: the floor commits with ``synchronous=NORMAL`` (WAL: no fsync per commit, a power
loss may drop the last commits), ours with ``synchronous=FULL`` (a 2xx means on disk, one fsync per
group commit). So a second floor is measured and printed, the same endpoint with ``synchronous=FULL``
(one fsync per request: it has no group commit), as ``floor_full`` / ``ratio_full`` in the JSON. The
headline ratio and the pass stay against the issue's floor (NORMAL); ``--no-full-floor`` skips it.

Targets: throughput >= 0.8 x floor; p99 <= 20 ms (or <= the floor's p99 + 5 ms) at 500 notifications/s.
Last line: one JSON object (bench, metric, value, unit, floor, ratio, floor_full, ratio_full, target, pass).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import build_request, closed_loop, open_loop

ROOT = Path(__file__).resolve().parent.parent
FLOOR_APP = """
import sqlite3, orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
db = sqlite3.connect({db!r}, check_same_thread=False, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous={sync}")
db.execute("CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, body BLOB)")
app = FastAPI()
@app.post("/notifications")
async def receive(request: Request) -> Response:
    body = await request.body()
    orjson.loads(body)
    db.execute("INSERT INTO inbox (body) VALUES (?)", (body,))
    return Response(b'{{"ok":true}}', status_code=202, media_type="application/json")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server on {port} did not become ready")


def notification(n: int) -> bytes:
    enc = {
        "resourceType": "Encounter",
        "id": f"enc-{n}",
        "meta": {"versionId": "1"},
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/pat-{n % 500}"},
        "period": {"start": "2026-11-02T09:00:00Z"},
    }
    pat = {
        "resourceType": "Patient",
        "id": f"pat-{n % 500}",
        "name": [{"family": "Doe", "given": ["J"]}],
        "birthDate": "1970-01-01",
        "gender": "female",
    }
    status = {
        "resourceType": "Parameters",
        "id": f"s{n}",
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": "http://ehr/fhir/Subscription/bench"}},
            {"name": "topic", "valueCanonical": "http://example.org/topic/encounter"},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": "event-notification"},
            {"name": "events-since-subscription-start", "valueString": str(n)},
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(n)},
                    {"name": "focus", "valueReference": {"reference": f"Encounter/enc-{n}"}},
                ],
            },
        ],
    }
    entries = [
        {
            "fullUrl": f"urn:uuid:s{n}",
            "resource": status,
            "request": {"method": "GET", "url": "Subscription/bench/$status"},
            "response": {"status": "200"},
        }
    ]
    for r in (enc, pat):
        entries.append(
            {
                "fullUrl": f"http://ehr/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                "response": {"status": "200"},
            }
        )
    return orjson.dumps({"resourceType": "Bundle", "id": f"b{n}", "type": "history", "entry": entries})


def start_floor(tmp: Path, sync: str = "NORMAL") -> tuple[subprocess.Popen[bytes], int]:
    module = f"floor_{sync.lower()}"
    (tmp / f"{module}.py").write_text(FLOOR_APP.format(db=str(tmp / f"{module}.db"), sync=sync))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            f"{module}:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        cwd=tmp,
    )
    wait_ready(port, "/docs")
    return proc, port


def start_ours(tmp: Path, secret: str) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "CLAIMBRIDGE_DATABASE_URL": f"sqlite:///{tmp / 'ours.db'}", "CLAIMBRIDGE_LOG_LEVEL": "WARNING"}
    cli = [sys.executable, "-m", "app.cli"]
    subprocess.run(
        [*cli, "subscriptions", "add", "--id", "bench", "--secret", secret],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    proc = subprocess.Popen([*cli, "serve", "--no-worker", "--port", str(port)], env=env, cwd=ROOT)
    wait_ready(port, "/healthz")
    return proc, port


def measure(port: int, headers: dict[str, str], count: int, offset: int, rate: float) -> dict[str, float]:
    bodies = [build_request("/notifications", notification(offset + i), headers) for i in range(count * 2)]
    warm = asyncio.run(closed_loop(port, bodies[: count // 10], connections=8))
    assert warm.errors == 0, "warm-up requests failed"
    burst = asyncio.run(closed_loop(port, bodies[count // 10 : count], connections=16))
    paced_n = int(rate * 6)
    paced = asyncio.run(open_loop(port, bodies[count : count + paced_n], rate=rate, connections=32))
    return {
        "rate": burst.rate,
        "errors": burst.errors + paced.errors,
        "p50_ms": paced.percentile(50) * 1000,
        "p99_ms": paced.percentile(99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument(
        "--no-full-floor", action="store_true", help="skip the same-durability floor (synchronous=FULL, no batching)"
    )
    args = parser.parse_args()
    secret = "bench-" + os.urandom(8).hex()
    headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {secret}"}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results = {}
        servers = [("floor", lambda: start_floor(tmp)), ("ours", lambda: start_ours(tmp, secret))]
        if not args.no_full_floor:
            servers.insert(1, ("floor_full", lambda: start_floor(tmp, "FULL")))
        for name, start in servers:
            proc, port = start()
            try:
                results[name] = measure(port, headers, args.count, 1 if name == "ours" else 10**6, args.rate)
            finally:
                proc.terminate()
                proc.wait(timeout=20)
    floor, ours = results["floor"], results["ours"]
    ratio = ours["rate"] / floor["rate"]
    print(
        f"floor: {floor['rate']:.0f}/s  p50 {floor['p50_ms']:.1f} ms  p99 {floor['p99_ms']:.1f} ms at {args.rate:.0f}/s"
    )
    full = results.get("floor_full")
    if full is not None:
        print(
            f"floor, synchronous=FULL (ours' durability, one fsync per request, no group commit): {full['rate']:.0f}/s"
            f"  p50 {full['p50_ms']:.1f} ms  p99 {full['p99_ms']:.1f} ms at {args.rate:.0f}/s"
            f"  -> ours {ours['rate'] / full['rate']:.2f}x of it"
        )
    print(
        f"ours : {ours['rate']:.0f}/s  p50 {ours['p50_ms']:.1f} ms  p99 {ours['p99_ms']:.1f} ms at {args.rate:.0f}/s"
        f"  errors {ours['errors']:.0f}"
    )
    p99_ok = ours["p99_ms"] <= max(20.0, floor["p99_ms"] + 5.0)
    print(
        json.dumps(
            {
                "bench": "intake",
                "metric": "p99_latency_at_rate",
                "value": round(ours["p99_ms"], 2),
                "unit": "ms",
                "floor": round(floor["p99_ms"], 2),
                "ratio": None,
                "target": 20.0,
                "pass": p99_ok,
            }
        )
    )
    print(
        json.dumps(
            {
                "bench": "intake",
                "metric": "notifications_per_second",
                "value": round(ours["rate"], 1),
                "unit": "1/s",
                "floor": round(floor["rate"], 1),
                "ratio": round(ratio, 3),
                "floor_full": round(full["rate"], 1) if full else None,
                "ratio_full": round(ours["rate"] / full["rate"], 3) if full else None,
                "target": 0.8,
                "pass": ratio >= 0.8 and p99_ok and ours["errors"] == 0,
            }
        )
    )


if __name__ == "__main__":
    main()
