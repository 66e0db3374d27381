"""The API and worker processes of the soak and restart benches, restartable, with kept logs.

Every start of a process writes its stdout and stderr to its own file in ``log_dir``
(``api-01.log``, ``worker0-03.log`` ...), kept after the run (the benches print the folder). Each
process runs with :mod:`faulthandler` registered on SIGUSR1, so a stuck process can be asked for the
stack of every thread without stopping it. When a restarted process is not ready in time,
:meth:`Processes.diagnose` prints what is known: whether it is alive (exit code), its threads'
stacks (SIGUSR1, and ``py-spy dump`` when installed), on PostgreSQL the sessions of the bench's
database and the locks they wait for, and the tail of its log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from harness import REFDATA, ROOT

ADMIN = "soak-admin-token-0123456789abcdef"

# ``python -m app.cli`` with the stacks of all threads dumped to stderr on SIGUSR1
LAUNCH = (
    "import faulthandler, runpy, signal; faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "runpy.run_module('app.cli', run_name='__main__', alter_sys=True)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NotReady(SystemExit):
    """A (re)started process did not become ready in time; the diagnosis has been printed."""


@dataclass
class Processes:
    """One ``claimbridge serve --no-worker`` and ``workers`` ``claimbridge worker`` processes over ``url``."""

    url: str
    tmp: Path
    workers: int
    log_dir: Path | None = None
    log_level: str = "INFO"
    port: int = field(default_factory=free_port)
    api: subprocess.Popen[bytes] | None = None
    worker_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[str, Path] = field(default_factory=dict)  # "api" / "worker0" -> the current start's log
    starts: int = 0
    phases: list[tuple[str, float, float | None]] = field(default_factory=list)  # who, ready s, listening s

    def __post_init__(self) -> None:
        if self.log_dir is None:
            self.log_dir = self.tmp / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMBRIDGE_")}
        env.update(
            CLAIMBRIDGE_DATABASE_URL=self.url,
            CLAIMBRIDGE_CONFIG_DIR=str(ROOT / "config"),
            CLAIMBRIDGE_SETTINGS_FILE=os.devnull,
            CLAIMBRIDGE_REFDATA_DIR=str(REFDATA),
            CLAIMBRIDGE_ADAPTERS__OUT_DIR=str(self.tmp / "out"),
            CLAIMBRIDGE_LOG_LEVEL=self.log_level,
            CLAIMBRIDGE_API__ADMIN_TOKEN=ADMIN,
            CLAIMBRIDGE_WORKER__POLL_INTERVAL_SECONDS="0.05",
            PYTHONUNBUFFERED="1",
            **extra,
        )
        return env

    def heartbeat(self, n: int) -> Path:
        return self.tmp / f"worker{n}.alive"

    def _spawn(self, who: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        assert self.log_dir is not None
        self.starts += 1
        path = self.log_dir / f"{who}-{self.starts:02d}.log"
        self.logs[who] = path
        with path.open("wb") as log:
            log.write(f"# bench: {who} launched {datetime.now(UTC).isoformat()}\n".encode())
            log.flush()
            return subprocess.Popen(
                [sys.executable, "-c", LAUNCH, *args], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def start_api(self) -> None:
        self.api = self._spawn("api", ["serve", "--no-worker", "--port", str(self.port)], self.env())

    def start_worker(self, n: int) -> subprocess.Popen[bytes]:
        env = self.env(CLAIMBRIDGE_WORKER__HEARTBEAT_FILE=str(self.heartbeat(n)))
        proc = self._spawn(f"worker{n}", ["worker"], env)
        if n < len(self.worker_procs):
            self.worker_procs[n] = proc
        else:
            self.worker_procs.append(proc)
        return proc

    def start(self, timeout: float = 120) -> None:
        self.start_api()
        for n in range(self.workers):
            self.start_worker(n)
        self.wait_api(timeout)

    def wait_api(self, timeout: float) -> float:
        started = time.monotonic()
        last = "no answer"
        while time.monotonic() - started < timeout:
            try:
                response = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1)
                if response.status_code == 200:
                    self.phases.append(("api", time.monotonic() - started, listening_after(self.logs["api"])))
                    return time.monotonic() - started
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if self.api is not None and self.api.poll() is not None:
                break
            time.sleep(0.05)
        self.diagnose("api", self.api, f"/readyz not 200 within {timeout} s (last: {last})")
        raise NotReady(f"the API did not come up within {timeout} s (log: {self.logs['api']})")

    def crash_api(self, timeout: float = 60) -> float:
        assert self.api is not None
        self.api.send_signal(signal.SIGKILL)
        self.api.wait()
        self.start_api()
        return self.wait_api(timeout)

    def crash_worker(self, n: int, timeout: float = 60) -> float:
        self.worker_procs[n].send_signal(signal.SIGKILL)
        self.worker_procs[n].wait()
        beat = self.heartbeat(n)
        beat.unlink(missing_ok=True)
        started = time.monotonic()
        proc = self.start_worker(n)
        while not beat.exists():
            if time.monotonic() - started > timeout or proc.poll() is not None:
                self.diagnose(f"worker{n}", proc, f"no heartbeat within {timeout} s")
                raise NotReady(f"worker {n} did not resume within {timeout} s (log: {self.logs[f'worker{n}']})")
            time.sleep(0.02)
        return time.monotonic() - started

    def diagnose(self, who: str, proc: subprocess.Popen[bytes] | None, what: str) -> None:
        """Print everything known about a process that is not ready (stacks, sessions, locks, log tail)."""
        log = self.logs.get(who)
        print(f"=== {who} not ready: {what}; log {log}", flush=True)
        if proc is not None and proc.poll() is not None:
            print(f"--- {who} exited with code {proc.returncode}", flush=True)
        elif proc is not None:
            size = log.stat().st_size if log else 0
            proc.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack into its log
            deadline = time.monotonic() + 5
            while log and log.stat().st_size == size and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
            spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
            if spy:
                out = subprocess.run([spy, "dump", "--pid", str(proc.pid)], capture_output=True, text=True, timeout=30)
                print(f"--- py-spy dump of {proc.pid}\n{out.stdout}{out.stderr}", flush=True)
        if not self.url.startswith("sqlite"):
            print(postgres_sessions(self.url), flush=True)
        if log is not None:
            lines = log.read_text(errors="replace").splitlines()
            print(f"--- last {min(len(lines), 80)} lines of {log}", flush=True)
            print("\n".join(lines[-80:]), flush=True)

    def stop(self) -> None:
        for proc in [self.api, *self.worker_procs]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [self.api, *self.worker_procs]:
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def listening_after(log: Path) -> float | None:
    """Seconds from the launch of the process of ``log`` to uvicorn's "Uvicorn running" line."""
    launched = listening = None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("# bench:") and " launched " in line:
            launched = datetime.fromisoformat(line.rsplit(" ", 1)[1])
        elif "Uvicorn running" in line and '"timestamp": "' in line:
            listening = datetime.fromisoformat(line.split('"timestamp": "', 1)[1].split('"', 1)[0])
    if launched is None or listening is None:
        return None
    return (listening - launched).total_seconds()


def postgres_sessions(url: str) -> str:
    """The server's sessions on this database (state, wait, transaction age, query) and ungranted locks."""
    lines = ["--- pg_stat_activity (this database)"]
    try:
        with psycopg.connect(url.split("?", 1)[0], autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pid, application_name, state, wait_event_type, wait_event, "
                "round(extract(epoch FROM now() - xact_start)::numeric, 1), "
                "pg_blocking_pids(pid), left(regexp_replace(query, '\\s+', ' ', 'g'), 160) "
                "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "ORDER BY xact_start NULLS LAST"
            ).fetchall()
            for row in rows:
                lines.append("  " + " | ".join(str(v) for v in row))
            waiting = conn.execute(
                "SELECT l.pid, l.locktype, l.mode, coalesce(c.relname, l.objid::text) "
                "FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted"
            ).fetchall()
            lines.append("--- pg_locks not granted")
            lines.extend("  " + " | ".join(str(v) for v in row) for row in waiting)
    except psycopg.Error as exc:
        lines.append(f"  (could not ask the server: {type(exc).__name__})")
    return "\n".join(lines)
