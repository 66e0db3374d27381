"""Outage: the clearinghouse API fails for a while (issue 17 item 4, clearinghouse part).

In-process on SQLite: the real worker (``build_worker``, every duty) in a thread, the HTTP
clearinghouse adapter (OAuth2 client credentials) answered by an in-process transport that
returns 503 during the outage window and 202 otherwise. Notifications are stored at ``--rate``/s
throughout; the submitter makes an 837P every ``--submit-interval`` seconds.

Phases: normal (``--normal`` s), outage (``--outage`` s; the issue's two minutes is ``--outage 120``),
recovery (until the 837P backlog is delivered). Printed: submission attempts per second during the
outage against the budget the destination's policy allows (breaker threshold, then one trial per
cooldown: ``(threshold + outage / cooldown) / outage``); jobs per second during the outage against
normal (nothing else stalls); 837P files delivered per second draining the backlog against the
normal rate.

``--scenario ehr-429``: the EHR (the test EHR double, in-process, SMART backend auth) answers every
FHIR request with 429 and ``Retry-After: --retry-after`` for ``--outage`` s while id-only
notifications (the worker fetches each encounter) and full-resource notifications of another
subscription (no EHR call) keep coming. Printed: EHR requests per second during the throttle against
the budget (at most ``ehr.max_connections`` requests in flight per Retry-After period:
``max_connections * (1 + outage / retry_after) / outage``), full-resource jobs per second during the
throttle against normal, and the id-only backlog drained afterwards against the normal rate.

``--scenario payer-hang``: Buckeye's eligibility endpoint (FHIR ``$submit``) is a listener that
accepts connections and never answers, for the whole run (``--outage`` s), while Buckeye visits
arrive at ``--rate``/s (each asks for an eligibility check). Printed: connection attempts per
second against the payer against its budget (``max(breaker_threshold, concurrency) * max_attempts``
per breaker cooldown, plus the first round: ``... * (1 + outage / cooldown) / outage``), and jobs
per second against the arrival rate (claims keep flowing while every check times out). The drain
after the payer recovers is not measured yet.

Targets: attempts/s within budget, jobs/s during the outage >= 0.8 x normal, and the backlog
delivered once the clearinghouse is back. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_result
from harness import REFDATA, ROOT, enqueue
from pipeline import SUBSCRIPTION, notification_bodies

from app.adapters.clearinghouse_http import ClearinghouseApi, ClearinghouseHttpAdapter
from app.db.models import Job, Outbox
from app.db.subscriptions_repo import add_subscription
from app.logging import configure_logging
from app.services import GatewayFactory, Services, build_services
from app.settings import Settings

BASE, TOKEN = "https://clearinghouse.bench.test/api", "https://auth.bench.test/token"


class FakeClearinghouse:
    """The clearinghouse API: a token, 837P submissions (503 while ``down``), no response files."""

    def __init__(self) -> None:
        self.down = False
        self.attempts: list[float] = []
        self.accepted = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN:
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
        if request.method == "POST":
            self.attempts.append(time.monotonic())
            if self.down:
                return httpx.Response(503)
            self.accepted += 1
            return httpx.Response(202)
        return httpx.Response(200, json=[])


def count(engine: object, *where: object, model: object = Job) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


@contextmanager
def scenario(
    settings: Settings, worker_id: str, prepare: Callable[[Services], None], gateway: GatewayFactory | None = None
) -> Iterator[Services]:
    """One scenario's set-up: the services, ``prepare`` (EHRs, subscriptions, adapters), then the real
    worker (every duty) polling in a thread; on exit the worker stops and the services close."""
    services = build_services(settings) if gateway is None else build_services(settings, gateway=gateway)
    configure_logging(level="ERROR", fmt="json")
    stop = threading.Event()
    try:
        prepare(services)
        worker = services.worker(worker_id=worker_id)

        def loop() -> None:
            while not stop.is_set():
                if worker.run_once() == 0:
                    stop.wait(0.05)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield services
        finally:
            stop.set()
            thread.join(60)
    finally:
        services.close()


def paced(rate: float, seconds: float) -> Iterator[int]:
    """1, 2, 3 ... at ``rate`` per second for ``seconds`` (the caller's work done between the numbers)."""
    started, n = time.monotonic(), 0
    while time.monotonic() - started < seconds:
        n += 1
        yield n
        time.sleep(max(0.0, started + n / rate - time.monotonic()))


def drained(pending: Callable[[], int], timeout: float) -> float:
    """Seconds until ``pending()`` is 0 (at most ``timeout``)."""
    started = time.monotonic()
    while pending() and time.monotonic() - started <= timeout:
        time.sleep(0.1)
    return time.monotonic() - started


def ehr_throttled(args: argparse.Namespace) -> None:
    """The EHR answers 429 + Retry-After for ``args.outage`` seconds (see the module docstring)."""
    import json
    from datetime import UTC, datetime

    from id_only import SECRET, SUB, id_only, seed
    from id_only import settings as id_only_settings

    from app.db import ehr_repo
    from app.db.ehr_repo import EhrRecord
    from app.ehr.gateway import EhrGateway
    from app.fhir.keys import generate_keys
    from tests.ehr.server import EhrServer

    ehr = EhrServer()
    with tempfile.TemporaryDirectory(prefix="bench-outage-ehr-") as d:
        tmp = Path(d)
        settings = id_only_settings(tmp)

        def prepare(services: Services) -> None:
            private, jwks = generate_keys(tmp / "keys", "ES384")
            ehr.register_client("claimbridge", json.loads(jwks.read_text()))
            now = datetime.now(UTC)
            with services.engine.begin() as conn:
                record = EhrRecord("bench", ehr.base_url, "smart-backend", "claimbridge", str(private), True, False, {})
                ehr_repo.add_ehr(conn, record, now=now)
                add_subscription(
                    conn, subscription_id=SUB, secret=SECRET, ehr="bench", signing_secret=None, content="id-only",
                    topic=None, heartbeat_period=None, now=now, resource_types=("Encounter",), fresh=True,
                )  # fmt: skip
                add_subscription(
                    conn, subscription_id=SUBSCRIPTION, secret="bench-secret-0123456789", ehr=None, signing_secret=None,
                    content="full-resource", topic=None, heartbeat_period=None, now=now,
                )  # fmt: skip

        def gateway(engine: Engine, s: Settings) -> EhrGateway:
            return EhrGateway(engine=engine, settings=s.ehr, transport=lambda _record: httpx.ASGITransport(app=ehr.app))

        total = int(args.rate * (args.normal + args.outage)) + 10
        encounters = iter(seed(ehr, total, "t"))
        with scenario(settings, "outage-ehr", prepare, gateway) as services:

            def done(sub: str) -> int:
                return count(services.engine, Job.status == "done", Job.subscription_id == sub)

            def pending() -> int:
                return count(services.engine, Job.status == "pending", Job.subscription_id == SUB)

            def feed(seconds: float) -> tuple[float, float]:
                """id-only and full-resource notifications at the rate; (id-only, full) jobs done per second."""
                nonlocal number
                ids0, full0, started = done(SUB), done(SUBSCRIPTION), time.monotonic()
                for _ in paced(args.rate, seconds):
                    number += 1
                    body = id_only(ehr, next(encounters), number)
                    full = notification_bodies(4, 1, f"e{number}-", number)
                    with services.engine.begin() as conn:
                        enqueue(conn, SUB, [body], services.clock())
                        enqueue(conn, SUBSCRIPTION, full, services.clock())
                elapsed = time.monotonic() - started
                return (done(SUB) - ids0) / elapsed, (done(SUBSCRIPTION) - full0) / elapsed

            def fhir_requests() -> int:
                return sum(1 for _, path in ehr.requests if path.startswith("/fhir/"))

            number = 0
            normal_ids, normal_full = feed(args.normal)
            ehr.faults.retry_after = str(int(args.retry_after))
            ehr.faults.rate_limit_next = 10**9
            sent0, throttle_started = fhir_requests(), time.monotonic()
            _, throttled_full = feed(args.outage)
            ehr.faults.rate_limit_next = 0
            throttle_seconds, sent = time.monotonic() - throttle_started, fhir_requests() - sent0
            backlog = pending()
            drain_seconds = drained(pending, 300)
            left, dead = pending(), count(services.engine, Job.status == "dead")
    per_s = sent / throttle_seconds
    budget = settings.ehr.max_connections * (1 + throttle_seconds / args.retry_after) / throttle_seconds
    drain_rate = backlog / drain_seconds if backlog else float("inf")
    print(f"normal: {normal_ids:.1f} id-only jobs/s, {normal_full:.1f} full-resource jobs/s")
    print(
        f"EHR throttled {throttle_seconds:.0f} s (429, Retry-After {args.retry_after:g} s): {sent} EHR requests = "
        f"{per_s:.2f}/s (budget {budget:.2f}/s); full-resource jobs {throttled_full:.1f}/s "
        f"({throttled_full / normal_full:.2f} x normal)"
    )
    print(
        f"recovery: backlog of {backlog} id-only jobs done in {drain_seconds:.1f} s ({drain_rate:.2f}/s vs normal "
        f"{normal_ids:.2f}/s, the first Retry-After included); {left} left, {dead} dead"
    )
    passed = (
        per_s <= budget and throttled_full >= 0.8 * normal_full and left == 0 and dead == 0
        and drain_rate >= 0.8 * normal_ids
    )  # fmt: skip
    print_result(
        bench="outage",
        metric="ehr_requests_per_second_while_throttled",
        value=per_s,
        unit="requests/s",
        floor=budget,
        ratio=throttled_full / normal_full if normal_full else None,
        target={
            "requests_per_s_max": round(budget, 3),
            "other_jobs_ratio_min": 0.8,
            "backlog": backlog,
            "drain_rate": round(drain_rate, 3),
            "drain_rate_min": round(0.8 * normal_ids, 3),
            "backlog_left": left,
        },
        passed=passed,
    )


def payer_hangs(args: argparse.Namespace) -> None:
    """The payer's eligibility endpoint never answers (see the module docstring)."""
    import socket

    import orjson
    import yaml

    from tests.eligibility.helpers import buckeye_bundle, eligibility_config
    from tests.spine.helpers import ADMIN, clone_bundle, notification, register

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    port = listener.getsockname()[1]
    accepted: list[float] = []
    held: list[socket.socket] = []

    def hang() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(time.monotonic())
            held.append(conn)  # never read, never answered

    threading.Thread(target=hang, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="bench-outage-payer-") as d:
        tmp = Path(d)
        config = eligibility_config(tmp, fhir_base_url=f"http://127.0.0.1:{port}/fhir")
        path = config / "payers" / "buckeye-mutual.yaml"
        profile = yaml.safe_load(path.read_text())
        profile["eligibility"]["timeout_seconds"] = args.payer_timeout
        path.write_text(yaml.safe_dump(profile))
        section = profile["eligibility"]
        settings = Settings(
            env="test", database_url=f"sqlite:///{tmp / 'outage.db'}", config_dir=config, refdata_dir=REFDATA,
            api={"admin_token": ADMIN}, log_level="WARNING", adapters={"out_dir": str(tmp / "out")},
            clearinghouse={"submit_interval_seconds": 0, "poll_interval_seconds": 0},
        )  # fmt: skip
        with scenario(settings, "outage-payer", lambda svc: register(svc, sub_id="claimbridge-demo")) as services:
            template, started, n = buckeye_bundle(), time.monotonic(), 0
            for n in paced(args.rate, args.outage):
                body = orjson.dumps(notification(clone_bundle(template, f"hang{n}"), n))
                with services.engine.begin() as conn:
                    enqueue(conn, "claimbridge-demo", [body], services.clock())
            elapsed = time.monotonic() - started
            jobs_done = count(services.engine, Job.status == "done")
            attempts = len([t for t in accepted if started <= t <= started + elapsed])
    listener.close()
    for conn in held:
        conn.close()
    from app.config.eligibility import EligibilitySection

    policy = EligibilitySection(**section)
    per_round = max(policy.breaker_threshold, policy.concurrency) * policy.max_attempts
    budget = per_round * (1 + elapsed / policy.breaker_cooldown_seconds) / elapsed
    per_s, jobs_per_s, offered = attempts / elapsed, jobs_done / elapsed, n / elapsed
    print(
        f"payer hangs {elapsed:.0f} s (timeout {args.payer_timeout:g} s, {policy.max_attempts} attempts, breaker "
        f"{policy.breaker_threshold}/{policy.breaker_cooldown_seconds:g} s): {attempts} connections = {per_s:.2f}/s "
        f"(budget {budget:.2f}/s)"
    )
    print(f"jobs {jobs_per_s:.2f}/s done while it hangs, {offered:.2f}/s arriving ({jobs_per_s / offered:.2f} x)")
    print_result(
        bench="outage",
        metric="payer_attempts_per_second_while_hanging",
        value=per_s,
        unit="attempts/s",
        floor=budget,
        ratio=jobs_per_s / offered if offered else None,
        target={"attempts_per_s_max": round(budget, 3), "jobs_ratio_min": 0.8},
        passed=per_s <= budget and jobs_per_s >= 0.8 * offered,
    )


def clearinghouse_down(args: argparse.Namespace) -> None:
    """The clearinghouse API answers 503 for ``args.outage`` seconds (see the module docstring)."""
    fake = FakeClearinghouse()
    with tempfile.TemporaryDirectory(prefix="bench-outage-") as d:
        tmp = Path(d)
        REFDATA.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            database_url=f"sqlite:///{tmp / 'outage.db'}", config_dir=ROOT / "config", refdata_dir=REFDATA,
            log_level="WARNING", adapters={"out_dir": str(tmp / "out"), "clearinghouse": "http"},
            clearinghouse={
                "submit_interval_seconds": args.submit_interval, "poll_interval_seconds": 3600,
                "api": {"base_url": BASE, "token_url": TOKEN, "client_id": "bench", "client_secret": "bench-secret-v"},
            },
            outbox={"destinations": {"clearinghouse": {
                "breaker_threshold": args.threshold, "breaker_cooldown_seconds": args.cooldown,
                "backoff_base_seconds": 0.5, "backoff_cap_seconds": args.cooldown, "max_attempts": 1000,
            }}},
        )  # fmt: skip

        def prepare(services: Services) -> None:
            api = ClearinghouseApi(settings.clearinghouse.api, transport=httpx.MockTransport(fake.handle))
            services.adapters["clearinghouse"] = ClearinghouseHttpAdapter(name="clearinghouse", api=api)
            with services.engine.begin() as conn:
                add_subscription(
                    conn, subscription_id=SUBSCRIPTION, secret="bench-secret-0123456789", ehr=None, signing_secret=None,
                    content="full-resource", topic=None, heartbeat_period=None, now=services.clock(),
                )  # fmt: skip

        with scenario(settings, "outage", prepare) as services:
            number = 1

            def pending() -> int:
                return count(
                    services.engine, Outbox.destination == "clearinghouse", Outbox.status == "pending", model=Outbox
                )

            def feed(seconds: float) -> tuple[float, int]:
                """Store notifications at the rate for ``seconds``; returns (jobs done per second, files accepted)."""
                nonlocal number
                done0, accepted0 = count(services.engine, Job.status == "done"), fake.accepted
                started = time.monotonic()
                for _ in paced(args.rate, seconds):
                    body = notification_bodies(4, 1, f"o{number}-", number)
                    number += 1
                    with services.engine.begin() as conn:
                        enqueue(conn, SUBSCRIPTION, body, services.clock())
                elapsed = time.monotonic() - started
                return (count(services.engine, Job.status == "done") - done0) / elapsed, fake.accepted - accepted0

            normal_jobs, normal_files = feed(args.normal)
            fake.down, outage_started = True, time.monotonic()
            outage_jobs, _ = feed(args.outage)
            fake.down, outage_seconds = False, time.monotonic() - outage_started
            attempts = [t for t in fake.attempts if outage_started <= t <= outage_started + outage_seconds]
            backlog = pending()
            drain_seconds = drained(pending, 120)
            left = pending()
    attempts_per_s = len(attempts) / outage_seconds
    budget = (args.threshold + outage_seconds / args.cooldown + 1) / outage_seconds
    normal_file_rate = normal_files / args.normal
    drain_rate = backlog / drain_seconds if backlog else float("inf")
    print(f"normal: {normal_jobs:.1f} jobs/s, {normal_file_rate:.2f} 837P files/s accepted")
    print(
        f"outage {outage_seconds:.0f} s: {len(attempts)} submission attempts = {attempts_per_s:.2f}/s "
        f"(budget {budget:.2f}/s); jobs {outage_jobs:.1f}/s ({outage_jobs / normal_jobs:.2f} x normal)"
    )
    print(
        f"recovery: backlog of {backlog} 837P files delivered in {drain_seconds:.1f} s "
        f"({drain_rate:.2f}/s vs normal {normal_file_rate:.2f}/s); {left} left"
    )
    passed = attempts_per_s <= budget and outage_jobs >= 0.8 * normal_jobs and left == 0
    print_result(
        bench="outage",
        metric="clearinghouse_attempts_per_second_during_outage",
        value=attempts_per_s,
        unit="attempts/s",
        floor=budget,
        ratio=outage_jobs / normal_jobs if normal_jobs else None,
        target={
            "attempts_per_s_max": round(budget, 3),
            "jobs_during_outage_ratio_min": 0.8,
            "backlog_left": 0,
            "backlog": backlog,
            "drain_rate": round(drain_rate, 3),
        },
        passed=passed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["clearinghouse", "ehr-429", "payer-hang"], default="clearinghouse")
    parser.add_argument("--payer-timeout", type=float, default=2.0, help="payer-hang: eligibility timeout_seconds")
    parser.add_argument("--retry-after", type=float, default=5.0, help="ehr-429: the EHR's Retry-After seconds")
    parser.add_argument("--normal", type=float, default=20.0)
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the clearinghouse fails (issue: 120)")
    parser.add_argument("--rate", type=float, default=10.0, help="notifications/s")
    parser.add_argument("--submit-interval", type=float, default=2.0)
    parser.add_argument("--threshold", type=int, default=3, help="breaker threshold of the clearinghouse")
    parser.add_argument("--cooldown", type=float, default=5.0, help="breaker cooldown seconds")
    args = parser.parse_args()
    os.environ.setdefault("CLAIMBRIDGE_SETTINGS_FILE", os.devnull)  # before any Settings is read
    scenarios = {"clearinghouse": clearinghouse_down, "ehr-429": ehr_throttled, "payer-hang": payer_hangs}
    scenarios[args.scenario](args)


if __name__ == "__main__":
    main()
