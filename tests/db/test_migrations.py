"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

import app.db.models  # noqa: F401  (registers every table on SQLModel.metadata)
from app.db import migrate
from app.db.engine import make_engine


def test_migrated_schema_matches_the_models(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == [], "models and migrations disagree; add a migration (app.db.migrate.autogenerate)"


def test_downgrade_to_the_previous_revision_and_back(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine)

    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
        command.upgrade(cfg, "head")
    assert migrate.is_current(engine)
    engine.dispose()


def test_the_gap_sweep_reads_job_numbers_through_an_index(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate.upgrade(engine)
    query = "SELECT event_number FROM job WHERE subscription_id = 's' AND event_number > 1 AND event_number <= 9"
    with engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + query)))
    engine.dispose()
    assert "ix_job_subscription_event" in plan, plan
