"""Operator replays of dead inbox rows and dead outbox deliveries, each audited in the same transaction.

The CLI (``claimbridge inbox|outbox replay``), the admin API (``/api/inbox``, ``/api/outbox``) and
the console's dead-letters page all replay through :func:`replay_dead`, so every replay is one
``replay`` audit event: entity ``inbox/<id>`` / ``outbox/<id>`` for one row, else
``inbox-dead/<scope>`` / ``outbox-dead/<scope>`` (``all``, or the console's subscription filter),
with how many rows were replayed. A replay of one id that is not dead changes and records nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Connection

from app.db import audit_repo, inbox_dead_repo, outbox_repo

DeadKind = Literal["inbox", "outbox"]


def replay_dead(
    conn: Connection,
    kind: DeadKind,
    *,
    row: int | None = None,
    ids: list[int] | None = None,
    scope: str = "all",
    actor: str,
    actor_kind: str,
    now: datetime,
) -> int:
    """Dead rows of ``kind`` back to pending: ``row`` (one), else ``ids`` (``scope`` names them), else
    all. Returns how many."""
    chosen = [row] if row is not None else ids
    if chosen == []:
        n = 0
    elif kind == "inbox":
        n = inbox_dead_repo.replay(conn, ids=chosen)
    else:
        n = outbox_repo.replay(conn, ids=chosen, now=now)
    if row is not None and n == 0:
        return 0
    entity = f"{kind}/{row}" if row is not None else f"{kind}-dead/{scope}"
    audit_repo.record(
        conn, actor=actor, actor_kind=actor_kind, action="replay", entity=entity, now=now, detail={"replayed": n}
    )
    return n
