"""Crash and concurrency proofs with real worker processes (SIGKILL, two workers on PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.api.app import create_app
from app.db.engine import read_only
from app.db.models import ClaimVersion, Job
from app.services import Services
from tests.spine.helpers import ROOT, SECRET, clone_bundle, make_services, notification, register, sample_bundles

pytestmark = pytest.mark.slow
AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


def enqueue(services: Services, count: int) -> None:
    bundles = sample_bundles()
    with TestClient(create_app(services)) as client:
        for i in range(count):
            bundle = clone_bundle(bundles[i % len(bundles)], f"k{i}")
            note = notification(bundle, i + 1)
            response = client.post("/notifications", content=orjson.dumps(note), headers=AUTH)
            assert response.status_code == 202, response.text


def worker_env(db_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMBRIDGE_")}
    env.update(
        CLAIMBRIDGE_DATABASE_URL=db_url,
        CLAIMBRIDGE_CONFIG_DIR=str(ROOT / "config"),
        CLAIMBRIDGE_SETTINGS_FILE=str(ROOT / "tests" / "fixtures" / "settings-test.yaml"),
        CLAIMBRIDGE_REFDATA_DIR=str(tmp / "refdata"),
        CLAIMBRIDGE_ADAPTERS__OUT_DIR=str(tmp / "out"),
        CLAIMBRIDGE_LOG_LEVEL="WARNING",
        CLAIMBRIDGE_WORKER__POLL_INTERVAL_SECONDS="0.05",
        **extra,
    )
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=sink
        )


def done_count(services: Services) -> int:
    with read_only(services.engine) as conn:  # never queues behind the worker's write lock
        return conn.execute(select(func.count()).select_from(Job).where(Job.status == "done")).scalar_one()


def wait_until(condition: Callable[[], bool], *, timeout: float, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"worker exited early ({proc.returncode}); see its log in {proc.args}")
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def assert_exactly_once(services: Services, count: int) -> None:
    with read_only(services.engine) as conn:
        statuses = dict(conn.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        versions = conn.execute(select(func.count()).select_from(ClaimVersion)).scalar_one()
        jobs_with_versions = conn.execute(select(func.count(func.distinct(ClaimVersion.source_job_id)))).scalar_one()
        per_claim = conn.execute(
            select(ClaimVersion.claim_id, func.count()).group_by(ClaimVersion.claim_id).having(func.count() > 1)
        ).all()
    assert statuses == {"done": count}
    assert versions == count == jobs_with_versions
    assert per_claim == []


def test_sigkill_mid_batch_then_restart_processes_each_notification_once(db_url: str, tmp_path: Path) -> None:
    count = 400  # several seconds of work: the poll below sees it part-done
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    enqueue(services, count)
    env = worker_env(db_url, tmp_path, CLAIMBRIDGE_WORKER__BATCH_SIZE="25", CLAIMBRIDGE_WORKER__LEASE_SECONDS="1")
    log = tmp_path / "worker.log"
    first = start_worker(env, log)
    wait_until(lambda: done_count(services) >= 10, timeout=60, procs=[first])
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert done_count(services) < count, "the worker finished before it could be killed mid-batch"
    second = start_worker(env, log)
    wait_until(lambda: done_count(services) == count, timeout=120, procs=[second])
    stop(second)
    assert_exactly_once(services, count)
    services.close()


def test_two_workers_on_postgres_never_process_a_notification_twice(postgres_db_url: str, tmp_path: Path) -> None:
    db_url = postgres_db_url
    count = 1000
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    enqueue(services, count)
    env = worker_env(db_url, tmp_path, CLAIMBRIDGE_WORKER__BATCH_SIZE="10")
    workers = [start_worker(env, tmp_path / "w1.log"), start_worker(env, tmp_path / "w2.log")]
    wait_until(lambda: done_count(services) == count, timeout=240, procs=workers)
    for proc in workers:
        stop(proc)
    assert_exactly_once(services, count)
    with services.engine.connect() as conn:
        by_worker = dict(conn.execute(select(Job.locked_by, func.count()).group_by(Job.locked_by)).all())
    assert len(by_worker) == 2 and all(n > 0 for n in by_worker.values()), by_worker
    services.close()
