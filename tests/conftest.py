"""Shared fixtures: databases (SQLite and the real PostgreSQL), settings, services, API clients.

Every test that touches SQL runs on both databases through the ``db_url`` fixture. PostgreSQL comes
from ``CLAIMBRIDGE_TEST_POSTGRES_URL``; each test gets its own database (a copy of one migrated per
run), dropped afterwards; migration tests take ``empty_db_url``. Without
that variable the PostgreSQL variants are skipped with a message, unless
``CLAIMBRIDGE_REQUIRE_POSTGRES=1`` (as in ``.ci/run``), where its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE = ROOT / "tests" / "fixtures" / "conformance"
PG_ENV = "CLAIMBRIDGE_TEST_POSTGRES_URL"

# Tests never read the developer's settings file or environment overrides by accident.
os.environ["CLAIMBRIDGE_SETTINGS_FILE"] = str(ROOT / "tests" / "fixtures" / "settings-test.yaml")
for _name in list(os.environ):
    if _name.startswith("CLAIMBRIDGE_") and _name not in (
        PG_ENV,
        "CLAIMBRIDGE_REQUIRE_POSTGRES",
        "CLAIMBRIDGE_REQUIRE_CHROMIUM",
        "CLAIMBRIDGE_REQUIRE_NATS",
        "CLAIMBRIDGE_TEST_NATS_URL",
        "CLAIMBRIDGE_SETTINGS_FILE",
    ):
        del os.environ[_name]


def postgres_base_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CLAIMBRIDGE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{PG_ENV} is not set but CLAIMBRIDGE_REQUIRE_POSTGRES=1: PostgreSQL is required")
    return None


@pytest.fixture(scope="session")
def pg_url() -> str | None:
    url = postgres_base_url()
    if url is None:
        return None
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        if os.environ.get("CLAIMBRIDGE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {url}: {exc}")
        return None
    return url


@contextmanager
def fresh_schema(pg_url: str) -> Iterator[str]:
    """A private, empty schema on the test PostgreSQL, dropped afterwards; yields a URL that uses it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in plain else "?"
    try:
        yield f"{plain}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _database_url(pg_url: str, name: str) -> str:
    plain = make_url(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    return plain.set(database=name).render_as_string(hide_password=False)


def _migrated(url: str) -> None:
    from app.db import migrate  # imported here: after the environment above is cleaned
    from app.db.engine import make_engine

    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per run: each test gets a copy (migrating costs ~0.35 s)."""
    path = tmp_path_factory.mktemp("template") / "claimbridge.db"
    _migrated(f"sqlite:///{path}")
    assert not Path(f"{path}-wal").exists(), "the template must be checkpointed before it is copied"
    return path


@pytest.fixture(scope="session")
def migrated_postgres(pg_url: str | None) -> Iterator[str | None]:
    """A PostgreSQL database migrated to head once per run, the template of each test's database
    (``CREATE DATABASE ... TEMPLATE`` takes ~45 ms; migrating a fresh schema ~0.8 s)."""
    if pg_url is None:
        yield None
        return
    name = f"cbtpl_{uuid.uuid4().hex[:12]}"
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _migrated(_database_url(pg_url, name))
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(pg_url: str, template: str) -> Iterator[str]:
    """A private database copied from the migrated template, dropped afterwards (its leftover
    connections, e.g. of a killed process, closed by the drop)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _database_url(pg_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def skip_without_postgres() -> None:
    pytest.skip(f"PostgreSQL variant skipped: set {PG_ENV}=postgresql://postgres@127.0.0.1:5432/test to run it")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str | None, migrated_sqlite: Path) -> Iterator[str]:
    """A fresh database at the head migration: a copy of the run's migrated SQLite file, or a private
    PostgreSQL database made from the run's migrated template. (``empty_db_url`` for migration tests.)"""
    if request.param == "sqlite":
        target = tmp_path / "claimbridge.db"
        shutil.copyfile(migrated_sqlite, target)
        yield f"sqlite:///{target}"
        return
    if pg_url is None:
        skip_without_postgres()
    template = request.getfixturevalue("migrated_postgres")
    with fresh_database(pg_url, template) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str | None) -> Iterator[str]:
    """A fresh, empty database URL (no migration run): a SQLite file, or a private schema on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'claimbridge.db'}"
        return
    if pg_url is None:
        skip_without_postgres()
    with fresh_schema(pg_url) as url:
        yield url


@pytest.fixture
def postgres_db_url(pg_url: str | None, request: pytest.FixtureRequest) -> Iterator[str]:
    """Like ``db_url`` but PostgreSQL only (tests of several processes sharing one database)."""
    if pg_url is None:
        skip_without_postgres()
    with fresh_database(pg_url, request.getfixturevalue("migrated_postgres")) as url:
        yield url


@pytest.fixture
def client(services: object) -> Iterator[object]:
    """The real API (``create_app``) over the module's own ``services`` fixture, lifespan included."""
    from fastapi.testclient import TestClient

    from app.api.app import create_app

    with TestClient(create_app(services)) as c:  # type: ignore[arg-type]
        yield c
