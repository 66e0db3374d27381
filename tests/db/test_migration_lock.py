"""Processes that start together migrate one at a time (issue 17 item 5: restart after kill -9).

``serve`` and ``worker`` both migrate at start-up. On a fresh PostgreSQL database two of them used to
race: both created ``alembic_version`` and the loser exited with ``UniqueViolation`` (the restart
bench's "API never ready"). Now the first holds an advisory lock per schema and the others wait for
it, bounded, then find the schema current. The lock is held here from a plain connection, the way a
process in the middle of its migration (or a killed one whose backend the server has not yet
dropped) holds it; each test waits on conditions (``pg_locks``), never on sleeps.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from alembic import command
from sqlalchemy import text

from app.db import migrate
from app.db.engine import make_engine
from tests.conftest import fresh_schema, skip_without_postgres

ROOT = Path(__file__).resolve().parents[2]


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def held_lock(url: str) -> Iterator[psycopg.Connection[Any]]:
    """Another session holding the schema's migration lock in an open transaction."""
    with psycopg.connect(_plain(url)) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (migrate.LOCK_CLASS,))
        yield conn


def waiting_for_lock(url: str) -> int:
    """Sessions waiting (not granted) for the migration advisory lock."""
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = %s::oid",
            (migrate.LOCK_CLASS,),
        ).fetchone()
    return int(row[0]) if row else 0


def wait_until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def pg_empty(pg_url: str | None) -> Iterator[str]:
    """A fresh, empty PostgreSQL schema (the advisory lock is PostgreSQL's; SQLite's migration
    serializes on ``BEGIN IMMEDIATE``, covered by the SQLite variant of the first test)."""
    if pg_url is None:
        skip_without_postgres()
    with fresh_schema(pg_url) as url:
        yield url


MIGRATE = "import sys; from app.db import migrate; from app.db.engine import make_engine; " + (
    "migrate.upgrade(make_engine(sys.argv[1]), lock_wait=60)"
)


def test_concurrent_first_starts_all_migrate(empty_db_url: str) -> None:
    """Two processes starting at once on a fresh database (the API and the worker): both succeed.

    On PostgreSQL both are made to wait behind a third holder of the lock and released together, so
    they meet at the same moment every run (before the lock existed they did not wait, and one failed).
    """

    def spawn() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", MIGRATE, empty_db_url], cwd=ROOT, stderr=subprocess.PIPE, text=True
        )

    if empty_db_url.startswith("postgresql"):
        with held_lock(empty_db_url):
            procs = [spawn(), spawn()]
            wait_until(lambda: waiting_for_lock(empty_db_url) == 2 or any(p.poll() is not None for p in procs), 120)
            assert waiting_for_lock(empty_db_url) == 2, [p.communicate()[1][-500:] for p in procs]
    else:
        procs = [spawn(), spawn()]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    engine = make_engine(empty_db_url)
    assert migrate.is_current(engine)
    engine.dispose()


def test_start_up_waits_for_a_migration_in_progress(pg_empty: str) -> None:
    engine = make_engine(pg_empty)
    done = threading.Event()
    failed: list[BaseException] = []

    def start() -> None:
        try:
            migrate.upgrade(engine, lock_wait=30)
        except BaseException as exc:
            failed.append(exc)
        done.set()

    with held_lock(pg_empty):
        thread = threading.Thread(target=start)
        thread.start()
        wait_until(lambda: waiting_for_lock(pg_empty) == 1)
        assert not done.is_set()  # it waits: it does not build tables under a migration in progress
    assert done.wait(30)
    thread.join()
    assert failed == []
    assert migrate.is_current(engine)
    engine.dispose()


def test_start_up_gives_up_clearly_when_the_lock_is_not_released(pg_empty: str) -> None:
    engine = make_engine(pg_empty)
    with held_lock(pg_empty) as holder:
        holder_pid = holder.info.backend_pid
        started = time.monotonic()
        with pytest.raises(migrate.MigrationBusy) as caught:
            migrate.upgrade(engine, lock_wait=0.5)
        assert time.monotonic() - started < 50  # gave up: the default wait (60 s) was not taken
    assert str(holder_pid) in str(caught.value)
    assert "0.5 s" in str(caught.value)
    with engine.connect() as conn:  # nothing was created while the lock was held
        assert conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None
    engine.dispose()


def serve(url: str, port: int, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    """``claimbridge serve --no-worker`` on ``url`` (its output in ``log``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMBRIDGE_")}
    env.update(
        CLAIMBRIDGE_DATABASE_URL=url,
        CLAIMBRIDGE_LOG_LEVEL="WARNING",
        CLAIMBRIDGE_SETTINGS_FILE=str(ROOT / "tests" / "fixtures" / "settings-test.yaml"),
        CLAIMBRIDGE_REFDATA_DIR=str(log.parent / "refdata"),
        CLAIMBRIDGE_ADAPTERS__OUT_DIR=str(log.parent / "out"),
        **extra,
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--no-worker", "--port", str(port)],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_api_started_during_a_migration_waits_then_becomes_ready(pg_empty: str, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    with held_lock(pg_empty):
        proc = serve(pg_empty, port, log)
        try:
            wait_until(lambda: waiting_for_lock(pg_empty) == 1 or proc.poll() is not None, 120)
            assert proc.poll() is None, log.read_text()[-2000:]
            assert not ready(port)  # not listening while the schema may be half-built
        except BaseException:
            proc.kill()
            raise
    try:
        wait_until(lambda: ready(port) or proc.poll() is not None, 60)
        assert ready(port), log.read_text()[-2000:]
        assert "another process is migrating this database" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_api_reports_a_lock_never_released_and_exits(pg_empty: str, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with held_lock(pg_empty) as holder:
        proc = serve(pg_empty, free_port(), log, CLAIMBRIDGE_MIGRATION_LOCK_WAIT_SECONDS="1")
        try:
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        text_out = log.read_text()
        assert code == 1, text_out[-2000:]
        last = text_out.strip().splitlines()[-1]
        assert last.startswith("claimbridge: error: another process has held the migration lock for more than 1 s")
        assert str(holder.info.backend_pid) in last


def test_a_migration_step_behind_a_table_lock_gives_up_clearly(pg_empty: str) -> None:
    """A pending migration's ALTER waits for a running transaction's lock at most ``lock_wait``."""
    engine = make_engine(pg_empty)
    cfg = migrate.alembic_config()
    with engine.begin() as conn:  # one revision before a7e3c9d1b2f4, which alters ``inbox``
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "e9c1b7d4a6f3")
    with psycopg.connect(_plain(pg_empty)) as reader:
        reader.execute("LOCK TABLE inbox IN ACCESS SHARE MODE")  # a worker's read in an open transaction
        with pytest.raises(migrate.MigrationBusy, match=r"waited more than 0\.5 s for a table lock"):
            migrate.upgrade(engine, lock_wait=0.5)
    migrate.upgrade(engine, lock_wait=30)  # the reader gone: it goes through
    assert migrate.is_current(engine)
    engine.dispose()
