"""The append-only audit trail: who viewed a raw payload, overrode a finding, replayed, changed configuration.

Only :func:`record` writes (inserts); nothing here updates or deletes a row. What writes each action:

- ``config-change``: ``claimbridge ehrs add``, ``subscriptions add``, ``subscriptions create`` (one
  event per Subscription the EHR accepted), ``users add``, ``cds-clients add`` (``detail`` never holds
  a secret: whether one is set, at most);
- ``replay``: dead-letter replay (API, CLI, console), dead inbox row and dead delivery replay (API,
  CLI, console: :mod:`app.db.replays_repo`), x12 quarantine release (API and CLI), gap retry (API
  and console);
- ``override``: a finding overridden (API, SMART app); ``payload-view``: a raw payload opened (console);
  ``sign-in`` / ``sign-in-failed``: console sign-in.

Not audited here: configuration files (``config/``: versioned in git, their hash recorded on every
claim) and ``claimbridge refdata load|icd10-release`` (offline: writes files into ``refdata_dir``
and opens no database).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from app.db.models import AuditEventRow
from app.db.sql import iso

AUDIT = AuditEventRow.__table__  # type: ignore[attr-defined]
ACTIONS = (
    "payload-view",
    "override",
    "replay",
    "config-change",
    "sign-in",
    "sign-in-failed",
    "what-if",
    "reactivate",
    "eligibility-recheck",
    "pa-request",
)


def record(
    conn: Connection,
    *,
    actor: str,
    actor_kind: str,
    action: str,
    entity: str,
    now: datetime,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> int:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    row = {
        "recorded_at": now,
        "actor": actor[:300],
        "actor_kind": actor_kind,
        "action": action,
        "entity": entity[:300],
        "outcome": outcome,
        "detail": detail or {},
    }
    return int(conn.execute(insert(AUDIT).values(**row).returning(AUDIT.c.id)).scalar_one())


def list_events(
    conn: Connection,
    *,
    action: str | None = None,
    since: datetime | None = None,
    after_id: int | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Oldest first from ``after_id`` (keyset), optionally one action and not before ``since``."""
    stmt = select(AUDIT)
    if action:
        stmt = stmt.where(AUDIT.c.action == action)
    if since is not None:
        stmt = stmt.where(AUDIT.c.recorded_at >= since)
    if after_id is not None:
        stmt = stmt.where(AUDIT.c.id > after_id)
    rows = conn.execute(stmt.order_by(AUDIT.c.id).limit(limit)).all()
    return [
        {
            "id": r.id,
            "recorded_at": iso(r.recorded_at),
            "actor": r.actor,
            "actor_kind": r.actor_kind,
            "action": r.action,
            "entity": r.entity,
            "outcome": r.outcome,
            "detail": dict(r.detail),
        }
        for r in rows
    ]
