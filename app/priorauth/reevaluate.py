"""After an approval, the encounter's claim is evaluated again (its prior-auth finding clears).

An alert moving to ``approved`` (a PAS answer, a payer's notification, or an authorization that
arrived from the EHR) is marked ``reevaluate_at`` in the same transaction
(:func:`app.db.priorauth_repo.set_state`). :class:`PriorAuthReevaluator`, a worker duty, takes the
marked alerts, re-evaluates their encounters' claims with the pipeline's steps 2-4 (the injected
``reevaluate``: a claim whose inputs did not change keeps its version) and clears the mark, all in
one transaction: a crash leaves the mark and the next round does it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine

from app.db import mirror_repo, priorauth_repo
from app.logging import get_logger

log = get_logger("claimbridge.priorauth")

#: (connection, encounters, now, ehr) -> what the pipeline persisted per claim
Reevaluate = Callable[[Connection, list[str], datetime, str], list[str]]


class PriorAuthReevaluator:
    """Worker duty: re-evaluate the claims of encounters whose order was just authorized."""

    def __init__(self, *, engine: Engine, reevaluate: Reevaluate, clock: Callable[[], datetime],
                 limit: int = 20) -> None:  # fmt: skip
        self.engine, self.reevaluate, self.clock, self.limit = engine, reevaluate, clock, limit

    def run_if_due(self) -> int:
        with self.engine.begin() as conn:
            due = priorauth_repo.due_reevaluations(conn, limit=self.limit)
            if not due:
                return 0
            now, results = self.clock(), []
            for alert in due:
                ehr = alert.ehr
                encounters = (
                    [alert.encounter] if alert.encounter else mirror_repo.encounters_for(conn, alert.order_ref, ehr=ehr)
                )
                results += self.reevaluate(conn, encounters, now, ehr)
            priorauth_repo.mark_reevaluated(conn, [a.id for a in due])
        log.info("priorauth.reevaluated", alerts=len(due), claims=len(results))
        return len(due)
