"""Crash proof with a real process: the API killed (SIGKILL) between acknowledgement and expansion
(helpers in ``test_reliability.py``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from tests.spine.helpers import ROOT, expand, make_services, register
from tests.spine.test_reliability import (
    AUTH,
    _answers,
    bodies,
    free_port,
    job_numbers,
    pending_rows,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.slow


def test_sigkill_of_the_api_between_acknowledgement_and_expansion_loses_nothing(db_url: str, tmp_path: Path) -> None:
    """The API killed while notifications stream in: each one it acknowledged becomes exactly one job."""
    count = 80
    services = make_services(db_url, tmp_path)
    try:
        register(services, sub_id="claimbridge-demo")
        notes = bodies(count)
        port = free_port()
        api = subprocess.Popen(  # intake only: no worker expands anything before the kill
            [sys.executable, "-m", "app.cli", "serve", "--no-worker", "--port", str(port)],
            env=worker_env(db_url, tmp_path),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: _answers(port), timeout=90, procs=[api])
            acknowledged: set[int] = set()
            lock = threading.Lock()

            def post(number: int) -> None:
                try:
                    response = httpx.post(f"http://127.0.0.1:{port}/notifications", content=notes[number - 1],
                                          headers=AUTH, timeout=30)  # fmt: skip
                except httpx.HTTPError:
                    return  # in flight at the kill: never acknowledged, the EHR retries it
                if response.status_code == 202:
                    with lock:
                        acknowledged.add(number)

            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(post, n) for n in range(1, count + 1)]
                wait_until(lambda: len(acknowledged) >= 20, timeout=120, procs=[api])
                api.send_signal(signal.SIGKILL)
                api.wait()
                for future in futures:
                    future.result()
        finally:
            if api.poll() is None:
                api.kill()
                api.wait()
        with lock:
            acked = sorted(acknowledged)
        assert 20 <= len(acked) < count, "the API answered everything before it could be killed"
        assert job_numbers(services) == [] and pending_rows(services) >= len(acked)
        expand(services.engine)  # the worker's expansion after the restart
        numbers = job_numbers(services)
        assert len(numbers) == len(set(numbers)) and set(acked) <= set(numbers)  # one job each, none lost
        with TestClient(create_app(services)) as client:  # the EHR retries everything it sent
            again = [client.post("/notifications", content=body, headers=AUTH).status_code for body in notes]
        assert all(again[n - 1] == 200 for n in acked)  # acknowledged before: a duplicate now
        expand(services.engine)
        assert job_numbers(services) == list(range(1, count + 1))
    finally:
        services.close()
