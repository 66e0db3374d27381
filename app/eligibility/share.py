"""The patient's expected share for a stored verification, as ``GET /api/eligibility`` and the SMART app show it.

One function for both surfaces: the visit's claim in the check's EHR (``claim_id(encounter, payer,
ehr=...)``), the payer profile's allowed amounts and service types, then
:func:`app.eligibility.estimate.estimate`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from app.db import claims_repo
from app.domain.eligibility import EligibilityResult
from app.domain.payers import PayerDirectory
from app.domain.tenancy import DEFAULT_EHR
from app.eligibility.estimate import claim_lines, estimate
from app.mappers.ids import claim_id


def visit_estimate(
    conn: Connection, payers: PayerDirectory, check: dict[str, Any], *, encounter: str | None = None
) -> dict[str, Any] | None:
    """``{"claim": id, **Estimate.to_dict()}`` for an ``active`` answer with a claim, else None.

    ``check`` is a row of :func:`app.db.eligibility_repo.list_checks`; ``encounter`` stands in when the
    check names none (a verification requested for the coverage rather than the visit).
    """
    result = check.get("result")
    visit = check.get("encounter") or encounter
    if not result or check.get("status") != "active" or not visit:
        return None
    claim = claims_repo.get_claim(conn, claim_id(visit, check["payer"], ehr=check.get("ehr") or DEFAULT_EHR))
    if claim is None:
        return None
    profile = payers.profile_for(check["payer"])
    service_types = profile.eligibility.service_types if profile.eligibility else ("30",)
    found = estimate(EligibilityResult.from_dict(result), claim_lines(claim["claim"]), allowed=profile.allowed,
                     service_types=service_types)  # fmt: skip
    return {"claim": claim["id"], **found.to_dict()}
