"""Crash and concurrency proofs with real processes: SIGKILL of the worker mid-batch (here), of the API
(``test_reliability_api.py``), two workers on PostgreSQL (``test_reliability_workers.py``); the three
files are separate so that ``--dist loadfile`` can run them on different processes.

Intake stores one inbox row per notification; the worker expands it into jobs. Killed between the
acknowledgement and the expansion (the API), or in the middle of expanding and processing (the
worker), every acknowledged notification still ends as exactly one job per event.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.api.app import create_app
from app.db.engine import read_only
from app.db.models import ClaimVersion, Inbox, Job
from app.services import Services
from tests.spine.helpers import (
    ROOT,
    SECRET,
    clone_bundle,
    make_services,
    notification,
    register,
    sample_bundles,
)

pytestmark = pytest.mark.slow
AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


def bodies(count: int) -> list[bytes]:
    bundles = sample_bundles()
    return [orjson.dumps(notification(clone_bundle(bundles[i % len(bundles)], f"k{i}"), i + 1)) for i in range(count)]


def enqueue(services: Services, count: int) -> None:
    with TestClient(create_app(services)) as client:
        for body in bodies(count):
            response = client.post("/notifications", content=body, headers=AUTH)
            assert response.status_code == 202, response.text


def pending_rows(services: Services) -> int:
    with read_only(services.engine) as conn:
        return conn.execute(select(func.count()).select_from(Inbox).where(Inbox.status == "pending")).scalar_one()


def job_numbers(services: Services) -> list[int]:
    with read_only(services.engine) as conn:
        return sorted(n for n in conn.execute(select(Job.event_number)).scalars() if n is not None)


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
    count = 250  # seconds of work: the poll below sees it part-done
    services = make_services(db_url, tmp_path)
    try:
        register(services, sub_id="claimbridge-demo")
        enqueue(services, count)
        assert pending_rows(services) == count  # acknowledged: inbox rows only, no job yet
        env = worker_env(
            db_url,
            tmp_path,
            CLAIMBRIDGE_WORKER__BATCH_SIZE="25",
            CLAIMBRIDGE_WORKER__LEASE_SECONDS="1",
            CLAIMBRIDGE_WORKER__EXPAND_BATCH_SIZE="25",  # expansion paced with processing: killed in the middle of both
        )
        log = tmp_path / "worker.log"
        first = start_worker(env, log)
        wait_until(lambda: done_count(services) >= 10, timeout=120, procs=[first])
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert done_count(services) < count, "the worker finished before it could be killed mid-batch"
        assert pending_rows(services) > 0, "the worker expanded everything before it could be killed mid-expansion"
        second = start_worker(env, log)
        wait_until(lambda: done_count(services) == count, timeout=120, procs=[second])
        stop(second)
        assert_exactly_once(services, count)
        assert pending_rows(services) == 0 and job_numbers(services) == list(range(1, count + 1))
    finally:
        services.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
