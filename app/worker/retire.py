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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from app.db import claims_repo, encounter_claims_repo, mirror_repo
from app.domain.claim_status import ClaimStatus
from app.domain.findings import Finding
from app.domain.outcomes import CANCELLED, outcome_finding
from app.evaluate import Evaluation


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
) -> Settled:
    """The claims of ``ev`` to persist; the encounter's other mapped claims withdrawn or voided.

    ``stored``: the encounter's claims as read before the evaluation (None: read here)."""
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
                encounter_claims_repo.void(conn, claim, finding, encounter=encounter, ehr=ehr, job_id=job_id, now=now)
        else:
            finding = _finding(
                "charge-capture.claim-withdrawn", claim, f"claim {claim.claim_id} is withdrawn: {reason}"
            )
            if claim.status is not ClaimStatus.WITHDRAWN:
                encounter_claims_repo.withdraw(conn, claim, finding, now=now)
        retired.append(finding)
    return Settled(keep, tuple(retired))


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
