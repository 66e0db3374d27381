"""Step 4 for the claims an encounter no longer yields: withdrawn, or voided when the payer has them.

A re-evaluated encounter may stop yielding a claim it yielded before: its charges were removed, the
visit was entered in error (the mapper then makes a ``cancelled`` claim, a void), or its claim now
goes to another payer. :func:`settle` decides, in the job's transaction, for each such stored claim
(:mod:`app.db.encounter_claims_repo`):

- the payer never had it (no submission that was not rejected): ``withdrawn``, never sent, with an
  info finding ``charge-capture.claim-withdrawn`` saying why; a ``cancelled`` claim of such a visit
  is not stored at all (there is nothing to void);
- the payer has (or may have) it: a void, the existing path: a ``cancelled`` version, sent as
  frequency 8 with the payer's claim number (``charge-capture.claim-voided``, a warning).

The encounter's outcome carries the same findings (:func:`app.worker.outcomes.record_outcome`).
Each withdrawal or void tells the EHR and downstream consumers as every other claim change does, in
the same transaction: a ``Task`` (identifier the claim id, so it replaces the claim's open Task:
:func:`app.writeback.retirement_task`) on the write-back outbox, and a relay event (``claim.version``
for the void's new version, ``claim.status`` for a withdrawal). Once per claim and state: a claim
already withdrawn or voided is only named again, nothing is sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from app.db import claims_repo, encounter_claims_repo, mirror_repo, outbox_repo
from app.domain.claim_status import ClaimStatus
from app.domain.findings import Finding
from app.domain.outcomes import CANCELLED, outcome_finding
from app.evaluate import Evaluation
from app.relay.events import (
    CLAIM_STATUS,
    CLAIM_VERSION,
    claim_status_event,
    claim_version_event,
    event_key,
    status_event_key,
)
from app.writeback import retirement_task


@dataclass(frozen=True)
class Settled:
    """What to persist of an evaluation, and the findings of the claims retired beside it."""

    keep: tuple[Evaluation, ...]
    retired: tuple[Finding, ...] = ()

    def keeps(self, claim_id: str) -> bool:
        return any(ev.claim_id == claim_id for ev in self.keep)


def settle(
    conn: Connection,
    encounter: str,
    ev: Evaluation | None,
    *,
    ehr: str,
    job_id: int | None,
    now: datetime,
    stored: encounter_claims_repo.EncounterClaims | None = None,
    writeback: str | None = None,
    events: str | None = None,
) -> Settled:
    """The claims of ``ev`` to persist; the encounter's other mapped claims withdrawn or voided.

    ``stored``: the encounter's claims as read before the evaluation (None: read here).
    ``writeback`` / ``events``: the outbox destinations of the EHR's Task and of relay events (None: none)."""
    notify = _Notify(writeback=writeback, events=events, encounter=encounter, now=now)
    produced = [] if ev is None else [ev, *ev.parts]
    keep = tuple(p for p in produced if not (_is_void(p) and not claims_repo.with_payer(conn, p.claim_id)))
    kept = {p.claim_id for p in keep}
    if stored is None:
        stored = encounter_claims_repo.claims_of(conn, encounter, ehr=ehr)
    gone = stored.mapped(excluding=kept)
    body = mirror_repo.get(conn, encounter, ehr=ehr) if gone else None
    if body is None:  # nothing to retire, or the visit is not in the mirror (nothing is known of it)
        return Settled(keep)
    reason = _reason(body, keep)
    retired: list[Finding] = []
    for claim in gone:  # one already withdrawn or voided is only named again (the outcome keeps saying so)
        if claim.status is not ClaimStatus.WITHDRAWN and claims_repo.with_payer(conn, claim.claim_id):
            finding = _finding("charge-capture.claim-voided", claim, f"claim {claim.claim_id} is voided: {reason}")
            if not claim.is_void:
                version, status = encounter_claims_repo.void(
                    conn, claim, finding, encounter=encounter, ehr=ehr, job_id=job_id, now=now
                )
                notify(conn, claim, finding, state="voided", version=version, status=status)
        else:
            finding = _finding(
                "charge-capture.claim-withdrawn", claim, f"claim {claim.claim_id} is withdrawn: {reason}"
            )
            if claim.status is not ClaimStatus.WITHDRAWN:
                status = encounter_claims_repo.withdraw(conn, claim, finding, now=now)
                notify(conn, claim, finding, state="withdrawn", version=claim.version, status=status)
        retired.append(finding)
    return Settled(keep, tuple(retired))


@dataclass(frozen=True)
class _Notify:
    """The outbox rows of one withdrawal or void: the EHR's Task, the relay event."""

    writeback: str | None
    events: str | None
    encounter: str
    now: datetime

    def __call__(
        self, conn: Connection, claim: encounter_claims_repo.StoredClaim, finding: Finding, *, state: str,
        version: int, status: ClaimStatus,
    ) -> None:  # fmt: skip
        if self.writeback is not None:
            task = retirement_task(claim_id=claim.claim_id, encounter=self.encounter, patient=claim.patient,
                                   version=version, state=state, finding=finding)  # fmt: skip
            key = f"{claim.claim_id}/{version}/{state}"
            outbox_repo.enqueue(conn, destination=self.writeback, kind="task", key=key, payload=task, now=self.now)
        if self.events is None:
            return
        cid, payer = claim.claim_id, claim.payer_id
        if state == "voided":  # a new version, like any other
            fingerprint = claims_repo.latest_fingerprint(conn, cid) or ""
            event = claim_version_event(claim_id=cid, version=version, status=status.value, encounter=self.encounter,
                                        payer_id=payer, fingerprint=fingerprint)  # fmt: skip
            kind, key = CLAIM_VERSION, event_key(cid, version)
        else:
            event = claim_status_event(claim_id=cid, version=version, status=status.value, encounter=self.encounter,
                                       payer_id=payer, reason=finding.rule)  # fmt: skip
            kind, key = CLAIM_STATUS, status_event_key(cid, version, status.value)
        outbox_repo.enqueue(conn, destination=self.events, kind=kind, key=key, payload=event, now=self.now)


def _is_void(ev: Evaluation) -> bool:
    return ev.claim.get("status") == "cancelled"


def _reason(encounter: dict[str, object], keep: tuple[Evaluation, ...]) -> str:
    status = encounter.get("status")
    if status in CANCELLED:
        return f"the visit is {status}"
    if keep:
        return f"the encounter's claim is now {', '.join(p.claim_id for p in keep)} (another payer)"
    return "the encounter no longer yields a claim (no billable charge left)"


def _finding(rule: str, claim: encounter_claims_repo.StoredClaim, message: str) -> Finding:
    return outcome_finding(rule, message=message, location="Claim.status", source=claim.claim_id)
