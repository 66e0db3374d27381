"""The EHR-scope migration moves existing rows to the default EHR (or the one EHR every subscription names)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from app.db import migrate
from app.db.engine import make_engine

BEFORE = "b7e1c9a2d3f4"
NOW = "2026-12-01 10:00:00"


def _at_previous_revision(empty_db_url: str, ehrs: list[str | None]):  # type: ignore[no-untyped-def]
    engine = make_engine(empty_db_url)
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, BEFORE)
        for i, ehr in enumerate(ehrs):
            conn.execute(
                text(
                    "INSERT INTO subscription (id, ehr, secret_sha256, status, health, events_since_start, created_at) "
                    "VALUES (:id, :ehr, :digest, 'active', 'ok', 0, :now)"
                ),
                {"id": f"s{i}", "ehr": ehr, "digest": f"{i:064d}", "now": NOW},
            )
        conn.execute(
            text(
                "INSERT INTO inbox (id, subscription_id, kind, body, received_at) "
                "VALUES (1, 's0', 'rest-hook', :b, :now)"
            ),
            {"b": b"{}", "now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO job (inbox_id, subscription_id, dedupe_key, key, focus, status, attempts, available_at, "
                "created_at) VALUES (1, 's0', 'ver:Patient/p1:3', 'Patient/p1', 'Patient/p1', 'done', 1, :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO resource (key, resource_type, version_id, body, updated_at) "
                "VALUES ('Patient/p1', 'Patient', '3', '{}', :now)"
            ),
            {"now": NOW},
        )
    return engine


def test_existing_rows_move_to_the_default_ehr(empty_db_url: str) -> None:
    engine = _at_previous_revision(empty_db_url, [None, "epic"])
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT ehr, key FROM resource")).all() == [("default", "Patient/p1")]
        assert conn.execute(text("SELECT ehr, dedupe_key FROM job")).all() == [("default", "ver:default:Patient/p1:3")]
    engine.dispose()


def test_rows_of_an_installation_with_one_named_ehr_stay_that_ehrs(empty_db_url: str) -> None:
    engine = _at_previous_revision(empty_db_url, ["epic"])
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT ehr FROM resource")).scalars().all() == ["epic"]
        assert conn.execute(text("SELECT ehr, dedupe_key FROM job")).all() == [("epic", "ver:epic:Patient/p1:3")]
        conn.execute(  # the same key from another EHR is another row now
            text(
                "INSERT INTO resource (ehr, key, resource_type, body, updated_at) "
                "VALUES ('other', 'Patient/p1', 'Patient', '{}', :now)"
            ),
            {"now": NOW},
        )
    engine.dispose()
