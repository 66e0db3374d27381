"""What is already known about a patient when a claim is checked: prior claims and eligibility.

Rules never do I/O; the orchestrator fills a :class:`History` from storage (service) or from the
claims produced earlier in the same run (``claimbridge check``), so "already billed" means the same
thing in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class History:
    # Other R4 Claims (dicts) for the same patient: stored ones and those produced earlier in this run.
    prior_claims: tuple[dict[str, Any], ...] = ()
    # CoverageEligibilityResponse dicts (or 271 results mapped to them) for the patient's coverages.
    eligibility: tuple[dict[str, Any], ...] = ()
    # Authorizations on file (ClaimResponse with preAuthRef, or local records), for prior-auth checks.
    authorizations: tuple[dict[str, Any], ...] = field(default=())
    # Real-time verification results (app.domain.eligibility.EligibilityResult dicts), oldest first.
    verifications: tuple[dict[str, Any], ...] = ()
    # True when this claim replaces one the payer holds: ChargeItems already `billed` are billed again.
    replacing: bool = False
    # ChargeItems (keys) an earlier version of this claim left off as already billed: billed elsewhere,
    # so never billed here, not even on a replacement.
    billed_elsewhere: frozenset[str] = frozenset()
