"""Dead inbox rows (their expansion into jobs failed, ``inbox.last_error``): listed and replayed.

A replayed row is ``pending`` again: the worker's expansion duty takes it in its next round, and
its jobs go in with the dedupe keys the request computed (``ON CONFLICT (dedupe_key) DO NOTHING``):
an event that meanwhile got its job through another notification is not a second job. The listing
never carries the raw body (it may hold PHI): the console's raw-payload view, audited, shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import Connection, and_, select, update

from app.db.models import Inbox
from app.db.sql import as_utc

INBOX = Inbox.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DeadInboxRow:
    id: int
    subscription_id: str
    bundle_id: str | None
    kind: str
    ehr: str
    jobs: int | None  # jobs the row stands for (None: its stored events cannot be read)
    received_at: datetime | None
    reason: str | None


def _jobs(events: str | None) -> int | None:
    try:
        specs = orjson.loads(events) if events else []
    except orjson.JSONDecodeError:
        return None
    return len(specs) if isinstance(specs, list) else None


def list_dead(conn: Connection, *, limit: int = 500) -> list[DeadInboxRow]:
    """Dead inbox rows, oldest first (``ix_inbox_status``)."""
    columns = (INBOX.c.id, INBOX.c.subscription_id, INBOX.c.bundle_id, INBOX.c.kind, INBOX.c.ehr, INBOX.c.events,
               INBOX.c.received_at, INBOX.c.last_error)  # fmt: skip
    rows = conn.execute(select(*columns).where(INBOX.c.status == "dead").order_by(INBOX.c.id).limit(limit)).all()
    return [
        DeadInboxRow(
            r.id, r.subscription_id, r.bundle_id, r.kind, r.ehr, _jobs(r.events), as_utc(r.received_at), r.last_error
        )
        for r in rows
    ]


def replay(conn: Connection, *, ids: list[int] | None) -> int:
    """Dead rows (the given ids, or all) back to ``pending``; returns how many. ``last_error`` stays
    (the last reason) until the row expands or dies again."""
    where = [INBOX.c.status == "dead"]
    if ids is not None:
        where.append(INBOX.c.id.in_(ids))
    return int(conn.execute(update(INBOX).where(and_(*where)).values(status="pending")).rowcount)
