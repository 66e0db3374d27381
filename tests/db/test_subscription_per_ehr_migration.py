"""The per-EHR subscription migration keeps existing rows: their key stays, their EHR id is the key."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from app.db import migrate
from app.db.engine import make_engine

BEFORE = "b2c4e6a8d0f1"
NOW = "2026-12-03 10:00:00"


def test_existing_subscriptions_keep_their_key(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, BEFORE)
        for sid, ehr, digest in (("s1", "epic", "a" * 64), ("s2", None, "b" * 64)):
            conn.execute(
                text(
                    "INSERT INTO subscription (id, ehr, secret_sha256, status, health, events_since_start, created_at) "
                    "VALUES (:id, :ehr, :d, 'active', 'ok', 7, :now)"
                ),
                {"id": sid, "ehr": ehr, "d": digest, "now": NOW},
            )
        command.upgrade(cfg, "head")
        rows = conn.execute(text("SELECT id, fhir_id, ehr, events_since_start FROM subscription ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("s1", "s1", "epic", 7), ("s2", "s2", None, 7)]
    engine.dispose()
