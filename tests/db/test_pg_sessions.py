"""PostgreSQL sessions say which process they belong to and drop a vanished client within a minute.

A killed process's locks (a job's row lease, the migration lock) last as long as its server session;
the server ends it when the client's socket closes, or, if that FIN never arrives, when TCP keepalive
gives up: the system default is two hours, the engine sets 30 s + 3 × 10 s (app.db.engine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from app.db.engine import make_engine
from tests.conftest import fresh_schema, skip_without_postgres

SETTINGS = (
    "SELECT current_setting('application_name'), current_setting('tcp_keepalives_idle'), "
    "current_setting('tcp_keepalives_interval'), current_setting('tcp_keepalives_count')"
)


@pytest.fixture
def pg_schema(pg_url: str | None) -> Iterator[str]:
    if pg_url is None:
        skip_without_postgres()
    with fresh_schema(pg_url) as url:
        yield url


def test_sessions_are_named_and_keep_alive(pg_schema: str) -> None:
    engine = make_engine(pg_schema)
    with engine.connect() as conn:
        name, idle, interval, count = conn.execute(text(SETTINGS)).one()
        search_path = conn.execute(text("SHOW search_path")).scalar()
    engine.dispose()
    assert name == f"claimbridge[{os.getpid()}]"
    assert (idle, interval, count) == ("30", "10", "3")
    assert search_path is not None and search_path.startswith("t_")  # the URL's own options are kept


def test_the_url_still_decides_what_it_names(pg_schema: str) -> None:
    engine = make_engine(f"{pg_schema}&application_name=ops-console&keepalives_idle=5")
    with engine.connect() as conn:
        assert conn.execute(text(SETTINGS)).one()[0] == "ops-console"
    engine.dispose()
