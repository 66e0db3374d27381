"""The SMART-client-secret migration encrypts the plaintext rows with the configured key, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, text

from app.credentials import SecretKeys
from app.db import migrate
from app.db.engine import make_engine

BEFORE = "ebccb5c8dc04"
NOW = "2026-12-01 10:00:00"
KEYS = SecretKeys("a-test-master-key-generated-for-this-test-only")


def at_previous_revision(empty_db_url: str, rows: dict[str, str | None]) -> Engine:
    engine = make_engine(empty_db_url)
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, BEFORE)
        for ehr, secret in rows.items():
            conn.execute(
                text(
                    "INSERT INTO smart_app (ehr, client_id, client_secret, scopes, created_at) "
                    "VALUES (:ehr, 'app', :secret, 'launch openid', :now)"
                ),
                {"ehr": ehr, "secret": secret, "now": NOW},
            )
    return engine


def stored(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT ehr, client_secret FROM smart_app")).all()
    return {str(row[0]): row[1] for row in rows}


def test_plaintext_secrets_are_encrypted_with_the_configured_key(empty_db_url: str) -> None:
    already = KEYS.encrypt("already-encrypted-secret")
    engine = at_previous_revision(empty_db_url, {"a": "plain-secret-of-ehr-a", "b": None, "c": already})
    migrate.upgrade(engine, keys=KEYS)
    after = stored(engine)
    engine.dispose()
    assert after["b"] is None and after["c"] == already
    assert after["a"] is not None and after["a"].startswith("fernet:") and "plain-secret" not in after["a"]
    assert KEYS.decrypt(after["a"]) == "plain-secret-of-ehr-a"


def test_without_the_key_the_migration_refuses_to_run_over_plaintext(empty_db_url: str) -> None:
    engine = at_previous_revision(empty_db_url, {"a": "plain-secret-of-ehr-a"})
    with pytest.raises(RuntimeError, match="needs the key"):
        migrate.upgrade(engine)
    assert stored(engine) == {"a": "plain-secret-of-ehr-a"}  # rolled back whole
    engine.dispose()
