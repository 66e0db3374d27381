"""The composition root closes what it opened: ``serve`` stops on SIGTERM cleanly.

How fast it stops ("within 5 s") is a timing claim, measured by ``bench/shutdown.py``; here the stop
only has a generous bound (60 s) so that a loaded machine cannot fail the test.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app.db.engine import read_only
from app.db.models import Job
from tests.spine.helpers import ROOT, make_services, register
from tests.spine.test_reliability import done_count, enqueue, wait_until, worker_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_close_stops_the_ehr_loop_thread_and_disposes_the_engine(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path)
    services.gateway.run(asyncio.sleep(0))  # the gateway's private loop thread starts on first use
    assert any(t.name == "claimbridge-ehr" and t.is_alive() for t in threading.enumerate())
    services.close()
    assert not any(t.name == "claimbridge-ehr" and t.is_alive() for t in threading.enumerate())
    assert services.engine.pool.checkedout() == 0


@pytest.mark.slow
def test_serve_shuts_down_on_sigterm_cleanly(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path)
    try:
        register(services, sub_id="claimbridge-demo")
        enqueue(services, 60)
        port = free_port()
        env = worker_env(db_url, tmp_path, PYTHONWARNINGS="always::ResourceWarning", CLAIMBRIDGE_WORKER__BATCH_SIZE="5")
        log = tmp_path / "serve.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(lambda: _healthy(port) and done_count(services) >= 5, timeout=120, procs=[proc])
            proc.send_signal(signal.SIGTERM)
            returncode = proc.wait(timeout=60)  # a hang guard; the time it takes is bench/shutdown.py's
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        output = log.read_text(errors="replace")
        assert returncode == 0, output[-2000:]
        assert "ResourceWarning" not in output and "unclosed" not in output.lower(), output[-2000:]
        with read_only(services.engine) as conn:
            leased = conn.execute(select(func.count()).select_from(Job).where(Job.locked_by.is_not(None))).scalar_one()
            pending_leased = conn.execute(
                select(func.count()).select_from(Job).where(Job.status == "pending", Job.locked_until.is_not(None))
            ).scalar_one()
        assert pending_leased == 0, f"{pending_leased} job(s) left leased by the stopped worker ({leased} locked_by)"
    finally:
        services.close()


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
