"""The JWT id ledger: replays refused, and concurrent calls share one transaction (group commit)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from app.cds.auth import JtiLedger
from app.db.sql import utcnow
from app.services import Services
from tests.spine.helpers import make_services

ISS = "https://ehr.example/cds-client"


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    yield svc
    svc.close()


def _until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def test_ids_waiting_behind_a_transaction_are_written_together_and_replays_refused(services: Services) -> None:
    engine, ledger = services.engine, JtiLedger(services.engine)
    expires = utcnow() + timedelta(minutes=5)
    assert ledger.remember(iss=ISS, jti="first", expires_at=expires) is True
    assert ledger.remember(iss=ISS, jti="first", expires_at=expires) is False
    assert ledger.remember(iss="https://other.example", jti="first", expires_at=expires) is True

    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(threading.get_ident()))
    results: dict[str, list[bool]] = {}
    lock = threading.Lock()

    def remember(name: str, jti: str) -> None:
        fresh = ledger.remember(iss=ISS, jti=jti, expires_at=expires)
        with lock:
            results.setdefault(name, []).append(fresh)

    with engine.connect() as blocker:  # holds the table's write lock: the first writer waits inside its transaction
        blocker.begin()
        if engine.dialect.name == "postgresql":
            blocker.execute(text("LOCK TABLE cds_jti IN EXCLUSIVE MODE"))
        else:
            blocker.execute(text("DELETE FROM cds_jti WHERE jti = 'absent'"))
        leader = threading.Thread(target=remember, args=("leader", "a"))
        leader.start()
        _until(lambda: ledger.state() == (True, 0), "the first writer's transaction")
        followers = [
            threading.Thread(target=remember, args=(name, jti))
            for name, jti in (("b", "b"), ("c", "c"), ("dup", "d"), ("dup", "d"), ("replay", "first"))
        ]
        for t in followers:
            t.start()
        _until(lambda: ledger.state() == (True, 5), "five ids waiting")
        blocker.commit()
    for t in (leader, *followers):
        t.join(timeout=60)
    assert results["leader"] == [True] and results["b"] == [True] and results["c"] == [True]
    assert sorted(results["dup"]) == [False, True]  # the same id twice in one batch: one of them is a replay
    assert results["replay"] == [False]
    assert len(commits) == 3, commits  # the blocker, the first writer, then one transaction for the five
    assert ledger.state() == (False, 0)
