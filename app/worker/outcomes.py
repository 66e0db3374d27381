"""Step 4 for every encounter: store how it ended (its claim, or why none), in the job's transaction.

:func:`record_outcome` is the one call the pipeline makes after evaluating each encounter. An
evaluation carries its outcome; an encounter that gave no claim is explained from its context in the
mirror (nothing billable, not finished, no coverage) or, for a context-only prior visit, from the
Encounter itself (history). Nothing is dropped without a trace: each encounter gets a stored row.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection

from app.config.loader import ClaimConfig
from app.db import mirror_repo, outcomes_repo
from app.domain.context import EncounterContext
from app.domain.outcomes import EncounterOutcome
from app.domain.tenancy import DEFAULT_EHR
from app.evaluate import Evaluation, outcome_for
from app.worker.retire import Settled


def record_outcome(
    conn: Connection,
    encounter: str,
    ev: Evaluation | None,
    *,
    config: ClaimConfig,
    job_id: int | None,
    now: datetime,
    ehr: str = DEFAULT_EHR,
    settled: Settled | None = None,
    context: EncounterContext | None = None,
) -> bool:
    """Store the outcome of one evaluated encounter of ``ehr`` (``ev`` None: no claim); True if it changed.

    ``settled``: what :func:`app.worker.retire.settle` kept of ``ev`` and the findings of the claims it
    withdrew or voided, which the outcome carries after its own. ``context``: the encounter's context
    as loaded from the mirror for ``ev`` (None: loaded here if needed).
    """
    outcome = outcome_to_store(conn, encounter, ev, config=config, ehr=ehr, settled=settled, context=context)
    return outcome is not None and outcomes_repo.save_outcome(conn, outcome, job_id=job_id, now=now, ehr=ehr)


def outcome_to_store(
    conn: Connection,
    encounter: str,
    ev: Evaluation | None,
    *,
    config: ClaimConfig,
    ehr: str = DEFAULT_EHR,
    settled: Settled | None = None,
    context: EncounterContext | None = None,
) -> EncounterOutcome | None:
    """What :func:`record_outcome` stores (None: nothing, the Encounter is not stored at all)."""
    if ev is not None:
        outcome: EncounterOutcome | None = ev.outcome
    else:
        outcome = unbilled_outcome(conn, encounter, config=config, ehr=ehr, context=context)
    if outcome is not None and settled is not None:
        if outcome.claim_id is not None and not settled.keeps(outcome.claim_id):  # a void of nothing: not stored
            outcome = replace(outcome, claim_id=None, held=False)
        outcome = replace(outcome, findings=(*outcome.findings, *settled.retired))
    return outcome


def unbilled_outcome(
    conn: Connection,
    encounter: str,
    *,
    config: ClaimConfig,
    ehr: str = DEFAULT_EHR,
    context: EncounterContext | None = None,
) -> EncounterOutcome | None:
    """Why an encounter of the mirror gave no claim (None: the Encounter is not stored at all)."""
    ctx = context if context is not None else mirror_repo.load_context(conn, encounter, ehr=ehr)
    if ctx is not None:
        return outcome_for(ctx.encounter, ctx, None, config=config)
    body = mirror_repo.get(conn, encounter, ehr=ehr)  # no context: a history (context-only) encounter
    return outcome_for(body, None, None, config=config) if body is not None else None
