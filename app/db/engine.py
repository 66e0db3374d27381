"""The database engine: SQLite (WAL, the embedded default) or PostgreSQL (production).

SQLite runs with ``synchronous=FULL``: every commit (an intake batch, a job) is on disk before it
returns, so an acknowledged notification survives a power loss, not only a process crash (``NORMAL``
in WAL mode may lose the last commits on power loss; FULL costs one fsync per commit, ~0.5 ms here).

SQLite transactions start with ``BEGIN IMMEDIATE`` so a writer takes the write lock up front and waits
(``busy_timeout``) instead of failing half-way. Read paths open their connection with
:func:`read_only`: on SQLite that is a deferred ``BEGIN`` that never touches the write lock (WAL lets it
read beside a busy writer instead of queueing behind it); on PostgreSQL the transaction is
``READ ONLY``, so a read path that tries to write fails loudly. ``postgresql://`` URLs are routed to
psycopg 3.

PostgreSQL connections name themselves (``application_name`` ``claimbridge[<pid>]``, so
``pg_stat_activity`` tells which process holds what) and use TCP keepalives on both ends unless the
URL says otherwise: a killed process's socket is normally closed by its kernel and the server ends
the session at once, but when that FIN never comes (a host or network gone) the server would keep
the session, and its locks (a job lease's row, the migration lock), for the system's two-hour
keepalive default; with these it notices within about a minute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


JSON_ARGS: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


_READ_ONLY = "claimbridge_read_only"


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection for a read path: never queues behind (or blocks) the SQLite writer."""
    with engine.connect() as conn:
        if is_sqlite(engine.url.drivername):
            yield conn.execution_options(**{_READ_ONLY: True})
        else:
            yield conn.execution_options(postgresql_readonly=True)


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        return _sqlite_engine(url)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args=postgres_connect_args(url),
        **JSON_ARGS,
    )

    @event.listens_for(engine, "connect")
    def _server_keepalives(dbapi_connection: Any, _record: Any) -> None:
        # the server end of the socket (how soon PostgreSQL drops a vanished client and its locks)
        with dbapi_connection.cursor() as cursor:
            cursor.execute(SERVER_KEEPALIVES)
        dbapi_connection.commit()

    return engine


#: libpq parameters: TCP keepalives from the client's end (a vanished server is noticed).
CLIENT_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
SERVER_KEEPALIVES = (
    "SELECT set_config('tcp_keepalives_idle', '30', false), set_config('tcp_keepalives_interval', '10', false), "
    "set_config('tcp_keepalives_count', '3', false)"
)


def postgres_connect_args(url: str) -> dict[str, Any]:
    """libpq parameters the URL does not set: keepalives and this process's ``application_name``."""
    given = make_url(url).query
    args: dict[str, Any] = {"application_name": f"claimbridge[{os.getpid()}]", **CLIENT_KEEPALIVES}
    return {k: v for k, v in args.items() if k not in given}


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **JSON_ARGS)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a 2xx means stored, power loss included (ADR security)
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

    return engine
