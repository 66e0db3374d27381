"""Eligibility benchmark: visits arriving at once for a payer whose eligibility endpoint answers late.

A payer double (a real FastAPI app under uvicorn on a free port) answers
``CoverageEligibilityRequest/$submit`` after ``--delay-ms`` (default 50 ms) with an active
CoverageEligibilityResponse. ``--visits`` (default 200) Buckeye visits (fresh ids each) are stored
through the real ``POST /notifications`` before the worker starts, then the real worker
(``build_worker``: jobs, then its duties including eligibility) runs until everything is done:

- **off**: the same visits with the payer's profile lacking ``eligibility`` -> claims/s;
- **on**: claims/s until every job is done (the claim throughput while checks are in flight),
  checks/s until every verification is stored, p50/p99 of "notifications stored -> verified
  result stored" and p99 "-> the claim shows it" (applied by its job or re-evaluated; the loop runs
  until every answer is applied), and CPU per visit (the process, and the worker thread alone).

Targets (issue 13): claim throughput on >= 0.8x off; p99 notification -> verified result <= 2 s.
Last line: one JSON object (bench/common.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvicorn
import yaml
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.api.app import create_app  # noqa: E402
from app.db.models import EligibilityCheck, Job  # noqa: E402
from app.logging import configure_logging  # noqa: E402
from app.services import Services, build_services  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.worker.duties import DUTY_NAMES  # noqa: E402
from bench.common import print_result  # noqa: E402
from tests.eligibility.helpers import buckeye_bundle, eligibility_config, response  # noqa: E402
from tests.spine.helpers import ADMIN, SECRET, clone_bundle, notification, register  # noqa: E402

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


def payer_app(delay: float) -> FastAPI:
    app = FastAPI()
    answer = orjson.dumps(response())

    @app.post("/fhir/CoverageEligibilityRequest/$submit")
    async def submit(request: Request) -> Any:
        from fastapi.responses import Response

        await request.body()
        await asyncio.sleep(delay)
        return Response(answer, media_type="application/fhir+json")

    return app


def _serve(delay: float, port: int) -> None:
    uvicorn.run(payer_app(delay), host="127.0.0.1", port=port, log_level="warning", access_log=False)


class PayerDouble:
    """The payer in its own process, so its CPU does not compete with the worker's for the GIL."""

    def __init__(self, delay: float) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = multiprocessing.get_context("spawn").Process(target=_serve, args=(delay, self.port), daemon=True)

    def __enter__(self) -> PayerDouble:
        self.process.start()
        deadline = time.monotonic() + 60  # a loaded machine starts uvicorn slowly
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise SystemExit("the payer double did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(timeout=5)


def bench_settings(tmp: Path, name: str) -> Settings:
    return Settings(
        env="test",
        database_url=f"sqlite:///{tmp / name / 'bench.db'}",
        config_dir=tmp / name / "config",
        refdata_dir=tmp / "refdata",
        api={"admin_token": ADMIN},
        log_level="WARNING",
        adapters={"out_dir": str(tmp / name / "out")},
        clearinghouse={"submit_interval_seconds": 0, "poll_interval_seconds": 0},
    )


def make_services(tmp: Path, name: str, *, payer_url: str | None) -> Services:
    config = eligibility_config(tmp / name, fhir_base_url=payer_url) if payer_url else eligibility_config(tmp / name)
    if payer_url is None:  # the same profile without its eligibility section
        path = config / "payers" / "buckeye-mutual.yaml"
        profile = yaml.safe_load(path.read_text())
        profile.pop("eligibility")
        path.write_text(yaml.safe_dump(profile))
    services = build_services(bench_settings(tmp, name))
    register(services, sub_id="claimbridge-demo")
    return services


def _checks_process(tmp: Path, name: str, visits: int, ready: Any, go: Any, cpu: Any) -> None:
    """``claimbridge worker --duties eligibility`` in its own process: the same loop as ``run_forever``
    (a round, then ``poll_interval_seconds`` when it did nothing), until every answer is applied."""
    configure_logging(level="WARNING", fmt="json")
    services = build_services(bench_settings(tmp, name), upgrade=False)
    worker = services.worker(worker_id="checks", duties=frozenset({"eligibility"}))
    ready.set()
    go.wait()
    started = time.process_time()
    try:
        while count(services, EligibilityCheck, EligibilityCheck.reevaluated_at.is_not(None)) < visits:
            if worker.run_once() == 0:
                time.sleep(services.settings.worker.poll_interval_seconds)
        cpu.put(time.process_time() - started)
    finally:
        services.close()


class ChecksProcess:
    """The eligibility-only worker process of ``--split``, started (and ready) before the clock starts."""

    def __init__(self, tmp: Path, name: str, visits: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ready, self.go, self.cpu = ctx.Event(), ctx.Event(), ctx.Queue()
        self.process = ctx.Process(target=_checks_process, args=(tmp, name, visits, self.ready, self.go, self.cpu))

    def __enter__(self) -> ChecksProcess:
        self.process.start()
        if not self.ready.wait(timeout=120):
            raise SystemExit("the eligibility worker process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


def count(services: Services, model: Any, *where: Any) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def run(
    tmp: Path, name: str, visits: int, payer_url: str | None, profile: Path | None = None, *, split: bool = False
) -> dict[str, Any]:
    services = make_services(tmp, name, payer_url=payer_url)
    template = buckeye_bundle()
    with contextlib.ExitStack() as stack:
        return _run(stack, services, template, name, visits, payer_url, profile, tmp if split else None)


def _run(
    stack: contextlib.ExitStack,
    services: Services,
    template: dict[str, Any],
    name: str,
    visits: int,
    payer_url: str | None,
    profile: Path | None,
    split: Path | None,
) -> dict[str, Any]:
    try:
        with TestClient(create_app(services)) as client:
            for i in range(visits):
                note = notification(clone_bundle(template, f"{name}{i}"), i + 1)
                assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202
        checks = stack.enter_context(ChecksProcess(split, name, visits)) if split is not None else None
        # split: this process is ``claimbridge worker --no-duties eligibility``, the other one sends the checks
        duties = frozenset(DUTY_NAMES) - {"eligibility"} if checks is not None else None
        worker = services.worker(worker_id="bench", duties=duties)
        stored = datetime.now(UTC)
        if checks is not None:
            checks.go.set()
        profiler = None
        if profile is not None:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
        started = time.perf_counter()
        cpu, main_cpu = time.process_time(), time.thread_time()
        while count(services, Job, Job.status == "done") < visits or (
            payer_url is not None
            and count(services, EligibilityCheck, EligibilityCheck.reevaluated_at.is_not(None)) < visits
        ):  # every job done and, on, every answer stored and applied to its claim (by its job or re-evaluation)
            worker.run_once()
            if time.perf_counter() - started > 300:
                raise SystemExit(f"{name}: not done after 300 s")
        cpu = time.process_time() - cpu  # the worker thread, the eligibility loop thread and their libraries
        main_cpu = time.thread_time() - main_cpu  # the worker thread alone
        if checks is not None:  # and the eligibility process's
            cpu += checks.cpu.get(timeout=60)
        if profiler is not None and profile is not None:
            profiler.stop()
            profile.write_text(profiler.output_text(unicode=False, color=False))
        # Claim throughput from the jobs' own finish times: what the worker does after the last job
        # (re-evaluating claims with the answers once the queue is empty) is not job time.
        with services.engine.connect() as conn:
            last_job = conn.execute(select(func.max(Job.finished_at))).scalar_one()
            answered = conn.execute(
                select(EligibilityCheck.updated_at, EligibilityCheck.reevaluated_at, EligibilityCheck.encounter)
            ).all()
            job_done = dict(conn.execute(select(Job.focus, Job.finished_at)).all())
        jobs_seconds = (last_job.replace(tzinfo=UTC) - stored).total_seconds()
        checks_seconds = max(((r.updated_at.replace(tzinfo=UTC) - stored).total_seconds() for r in answered), default=0)
        latencies = sorted((r.updated_at.replace(tzinfo=UTC) - stored).total_seconds() for r in answered)
        # ... and until the claim shows it (applied by its job, or re-evaluated with it)
        applied = sorted((r.reevaluated_at.replace(tzinfo=UTC) - stored).total_seconds() for r in answered)
        # what eligibility itself adds: the visit's job committed -> its verified result stored
        after_job = sorted(
            (r.updated_at - job_done[r.encounter]).total_seconds() for r in answered if job_done.get(r.encounter)
        )
        return {
            "claims_per_s": visits / jobs_seconds,
            "checks_per_s": visits / checks_seconds if payer_url else None,
            "p50": statistics.median(latencies) if latencies else None,
            "p99": _p99(latencies),
            "checks": len(latencies),
            "job_to_verified_p99": _p99(after_job),
            "applied_p99": _p99(applied),
            "jobs_seconds": jobs_seconds,
            "cpu_ms_per_visit": 1000 * cpu / visits,
            "worker_cpu_ms_per_visit": 1000 * main_cpu / visits,
        }  # (split: "cpu" adds the eligibility process; "worker thread" is the claim worker's)
    finally:
        services.close()


def _p99(values: list[float]) -> float | None:
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=200)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=1, help="off/on pairs, alternated (the median counts)")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile of the last 'on' worker loop here")
    parser.add_argument(
        "--split", action="store_true",
        help="on: one claim worker without eligibility (this process) + one eligibility-only worker process",
    )  # fmt: skip
    args = parser.parse_args()
    configure_logging(level="WARNING", fmt="json")
    pairs = []
    with tempfile.TemporaryDirectory() as tmp_dir, PayerDouble(args.delay_ms / 1000) as payer:
        tmp = Path(tmp_dir)
        url = f"http://127.0.0.1:{payer.port}/fhir"
        for n in range(args.rounds):
            off = run(tmp, f"off{n}", args.visits, None)
            on = run(tmp, f"on{n}", args.visits, url, profile=args.profile, split=args.split)
            ratio = on["claims_per_s"] / off["claims_per_s"]
            pairs.append((ratio, off, on))
            print(f"off: {off['claims_per_s']:.1f} claims/s; on: {on['claims_per_s']:.1f} claims/s "
                  f"(ratio {ratio:.2f}), "
                  f"{on['checks_per_s']:.1f} checks/s, {on['checks']} checks, notification -> verified "
                  f"p50 {on['p50']:.2f} s, p99 {on['p99']:.2f} s (all jobs done after {on['jobs_seconds']:.2f} s; "
                  f"job -> verified p99 {on['job_to_verified_p99'] or 0:.2f} s; notification -> claim shows it "
                  f"p99 {on['applied_p99']:.2f} s); CPU per visit off {off['cpu_ms_per_visit']:.1f} ms, "
                  f"on {on['cpu_ms_per_visit']:.1f} ms (worker thread {on['worker_cpu_ms_per_visit']:.1f} ms)",
                  flush=True)  # fmt: skip
    ratio, off, on = sorted(pairs, key=lambda p: p[0])[len(pairs) // 2]
    print_result(
        bench="eligibility-split" if args.split else "eligibility",
        metric="claim throughput with eligibility on / off",
        value=on["claims_per_s"],
        unit="claims/s",
        floor=off["claims_per_s"],
        ratio=ratio,
        target={
            "ratio": ">= 0.8",
            "p99_notification_to_verified_s": "<= 2",
            "p99": round(on["p99"], 3),
            "p99_applied": round(on["applied_p99"], 3),
            "cpu_ms_per_visit": [round(off["cpu_ms_per_visit"], 2), round(on["cpu_ms_per_visit"], 2)],
        },
        passed=ratio >= 0.8 and on["p99"] <= 2.0,
    )


if __name__ == "__main__":
    main()
