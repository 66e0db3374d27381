"""The worker's expansion duty: pending inbox rows become jobs (ADR "intake stores the inbox row only").

The request stores one ``inbox`` row per notification, ``pending``, with the jobs it stands for
(:mod:`app.db.intake_repo`). This duty, FIRST in the worker's duties (so the gap sweep that follows
in the same round sees the events), claims a batch of pending rows (an equal share per
subscription; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers never expand one row),
inserts their jobs with the dedupe keys the request computed (``job.dedupe_key`` is unique: an
event that two inbox rows carry is one job) and marks each row ``expanded``, all in ONE
transaction. Each row runs inside its own SAVEPOINT: a row that cannot be expanded is rolled back
to it and marked ``dead`` with its reason; the others commit. It is due whenever rows are pending:
it returns how many rows it handled, and a worker round that did something starts the next one
without waiting its poll interval, so jobs exist moments after the acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from app.db import intake_repo
from app.db.errors import describe_error
from app.logging import get_logger
from app.metrics import Metrics

log = get_logger("claimbridge.worker")


@dataclass
class InboxExpander:
    engine: Engine
    metrics: Metrics
    batch_size: int = 64

    def run_if_due(self) -> int:
        """Expand one batch of pending inbox rows; returns how many rows were handled."""
        created, dead = 0, []
        with self.engine.begin() as conn:
            rows = intake_repo.claim_pending(conn, limit=self.batch_size)
            for row in rows:
                try:
                    with conn.begin_nested():
                        created += intake_repo.expand_row(conn, row)
                except Exception as exc:  # rolled back to its savepoint: this row only
                    reason = describe_error(exc)
                    intake_repo.mark_dead(conn, row.id, f"expansion failed: {reason}")
                    dead.append((row.id, row.subscription_id, reason))
        for row_id, subscription_id, reason in dead:
            log.error("inbox.dead_lettered", inbox=row_id, subscription=subscription_id, reason=reason)
        if rows:
            self.metrics.inbox_expanded.labels(result="expanded").inc(len(rows) - len(dead))
            if dead:
                self.metrics.inbox_expanded.labels(result="dead").inc(len(dead))
            log.debug("inbox.expanded", rows=len(rows), jobs=created, dead=len(dead))
        return len(rows)

    def drain(self) -> int:
        """Expand until nothing is pending (tests, operators); returns rows handled."""
        total = 0
        while done := self.run_if_due():
            total += done
        return total
