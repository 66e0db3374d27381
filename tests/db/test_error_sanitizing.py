"""Database errors reach logs, ``last_error`` and stored reasons without SQL, parameters or PHI."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import migrate
from app.db.engine import make_engine
from app.db.errors import describe_error
from app.logging import drop_sensitive

SURNAME = "Zyxwvutsrq"


def test_a_failed_insert_is_described_without_its_statement_or_values(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO resource (ehr, key, resource_type, body, updated_at) "
                "VALUES ('default', :k, 'Patient', :b, '2026-01-01')"
            ),
            [{"k": "Patient/1", "b": f'{{"family": "{SURNAME}"}}'}] * 2,  # the second violates the key
        )
    engine.dispose()
    assert SURNAME in str(caught.value)  # what SQLAlchemy renders, and what used to be stored
    described = describe_error(caught.value)
    assert SURNAME not in described and "INSERT" not in described and "Patient/1" not in described
    assert described.startswith("IntegrityError"), described
    logged = drop_sensitive(None, "error", {"error": f"IntegrityError: {caught.value}"})
    assert SURNAME not in logged["error"] and "[SQL dropped]" in logged["error"]


def test_a_nul_refused_by_postgresql_is_described_without_the_value(postgres_db_url: str) -> None:
    engine = make_engine(postgres_db_url)
    migrate.upgrade(engine)
    insert = text("INSERT INTO ehr (name, base_url, auth, created_at) VALUES (:n, 'x', 'none', '2026-01-01')")
    with engine.begin() as conn, pytest.raises(DBAPIError) as caught:
        conn.execute(insert, {"n": f"{SURNAME}\x00"})
    engine.dispose()
    assert SURNAME not in describe_error(caught.value) and "NUL" not in describe_error(caught.value)
    assert describe_error(caught.value).startswith("DataError"), describe_error(caught.value)
