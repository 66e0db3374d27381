"""The ``inbox_key`` migration gives rows pending at upgrade the keys of their new events."""

from __future__ import annotations

import orjson
from alembic import command
from sqlalchemy import text

from app.db import migrate
from app.db.engine import make_engine

BEFORE = "a7e3c9d1b2f4"
NOW = "2026-12-03 10:00:00"


def test_pending_multi_event_rows_get_their_keys(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    cfg = migrate.alembic_config()
    rows = [  # id, status, dedupe_key, events
        (1, "expanded", None, [["evt:s:1", 1, "k", None, None]]),
        (2, "pending", "evt:s:2", [["evt:s:2", 2, "k", None, None]]),  # a one-event row: its own column
        (3, "pending", None, [["evt:s:1", 1, "k", None, None], ["evt:s:3", 3, "k", None, None], [None, None, "k"]]),
        (4, "pending", None, "[[not json"),
        (5, "pending", None, [["evt:s:3", 3, "k", None, None], ["evt:s:2", 2, "k", None, None]]),
    ]
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, BEFORE)
        for row_id, status, key, events in rows:
            conn.execute(
                text(
                    "INSERT INTO inbox (id, subscription_id, kind, body, received_at, status, ehr, dedupe_key, events) "
                    "VALUES (:id, 's', 'event-notification', :b, :now, :status, 'default', :key, :events)"
                ),
                {"id": row_id, "b": b"{}", "now": NOW, "status": status, "key": key,
                 "events": events if isinstance(events, str) else orjson.dumps(events).decode()},
            )  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO job (inbox_id, subscription_id, ehr, dedupe_key, key, status, attempts, available_at, "
                "created_at) VALUES (1, 's', 'default', 'evt:s:1', 'k', 'done', 1, :now, :now)"
            ),
            {"now": NOW},
        )
        command.upgrade(cfg, "head")
        keys = conn.execute(text("SELECT dedupe_key, inbox_id FROM inbox_key ORDER BY dedupe_key")).all()
    assert [tuple(k) for k in keys] == [("evt:s:3", 3)]  # 1 has a job, 2 a one-event row, 3 the older row
    engine.dispose()
