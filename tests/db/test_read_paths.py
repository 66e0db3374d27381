"""Read paths never queue behind the writer (SQLite) and can never write (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc, func, select, text

from app.api.app import create_app
from app.db.engine import read_only
from app.db.models import Job
from app.services import Services
from tests.spine.helpers import ADMIN, make_services, register

BOUND = 10.0  # seconds; a read that waits for the writer would wait busy_timeout (30 s)


@contextmanager
def writer_holding_lock(services: Services) -> Iterator[None]:
    """A real writer transaction that has taken the SQLite write lock and keeps it until the block ends."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with services.engine.begin() as conn:  # BEGIN IMMEDIATE: the write lock is ours
            conn.execute(text("UPDATE subscription SET status = status"))
            taken.set()
            release.wait(BOUND * 3)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(BOUND), "the writer never took the lock"
    try:
        yield
    finally:
        release.set()
        thread.join(BOUND)


def finishes(call: Callable[[], Any]) -> Any:
    """Run ``call`` in a thread and return its result, failing if it does not finish within BOUND."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as error:  # reported to the test thread
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND)
    assert not thread.is_alive(), f"the read waited for the writer for over {BOUND} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_sqlite_reads_run_beside_a_writer_holding_the_lock(tmp_path: Path) -> None:
    services = make_services(f"sqlite:///{tmp_path / 'claimbridge.db'}", tmp_path)
    register(services)

    def count_jobs() -> int:
        with read_only(services.engine) as conn:
            return int(conn.execute(select(func.count()).select_from(Job)).scalar_one())

    with writer_holding_lock(services):
        assert finishes(count_jobs) == 0
        assert finishes(services.queue_snapshot).pending == 0
        with TestClient(create_app(services)) as client:
            response = finishes(lambda: client.get("/api/dead-letters", headers={"Authorization": f"Bearer {ADMIN}"}))
    assert response.status_code == 200, response.text
    services.close()


def test_postgres_read_path_cannot_write_and_leaves_the_pool_writable(postgres_db_url: str, tmp_path: Path) -> None:
    services = make_services(postgres_db_url, tmp_path)
    register(services)
    with read_only(services.engine) as conn, pytest.raises(exc.DBAPIError, match="read-only transaction"):
        conn.execute(text("UPDATE subscription SET status = status"))
    with services.engine.begin() as conn:  # the one pooled connection, back to read-write
        assert conn.execute(text("UPDATE subscription SET status = status")).rowcount == 1
    services.close()
