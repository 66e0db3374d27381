"""What a PAS response says for an order (pure): approved with a number, denied with a reason, or pended.

Read with :func:`app.domain.preauth.decisions` (the same reading the claim rules use): any
authorizing item (A1/A2/A6, with a number) approves; otherwise a denial (A3) denies; a pended item
(A4) or nothing decided yet pends; a cancellation (C) cancels. The denial reason is the response's
``processNote`` text, else the review action's reason code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.domain.preauth import REVIEW_ACTION, decisions
from app.priorauth.pas import ITEM_TRACE

Resource = dict[str, Any]


@dataclass(frozen=True)
class PasOutcome:
    status: str  # approved | denied | pended | cancelled
    number: str | None
    reason: str | None
    claim_response: Resource


def claim_response_of(body: Any) -> Resource | None:
    """The first ClaimResponse of a PAS response Bundle (or the resource itself)."""
    if not isinstance(body, dict):
        return None
    if body.get("resourceType") == "ClaimResponse":
        return body
    for entry in body.get("entry") or ():
        resource = (entry or {}).get("resource") or {}
        if resource.get("resourceType") == "ClaimResponse":
            return dict(resource)
        if resource.get("resourceType") == "Bundle" and (inner := claim_response_of(resource)) is not None:
            return inner
    return None


def trace_numbers(response: Resource) -> set[str]:
    """The item trace numbers a PAS ClaimResponse echoes (claimbridge sends the coverage-assertion-id)."""
    found = set()
    for key in ("item", "addItem"):
        for item in response.get(key) or ():
            for ext in (item or {}).get("extension") or ():
                value = (ext.get("valueIdentifier") or {}).get("value") if isinstance(ext, dict) else None
                if ext.get("url") == ITEM_TRACE and isinstance(value, str) and value:
                    found.add(value)
    return found


def request_claim_id(response: Resource) -> str | None:
    """The id of the Claim a ClaimResponse answers, when ``request`` names one (``Claim/<id>``)."""
    ref = (response.get("request") or {}).get("reference")
    if isinstance(ref, str) and "Claim/" in ref:
        return ref.rsplit("Claim/", 1)[1].split("/")[0] or None
    return None


def _reason(response: Resource) -> str | None:
    notes = [str(n["text"]) for n in response.get("processNote") or () if isinstance(n, dict) and n.get("text")]
    if notes:
        return "; ".join(notes)[:500]
    for item in response.get("item") or ():
        for adj in (item or {}).get("adjudication") or ():
            for ext in (adj or {}).get("extension") or ():
                if ext.get("url") != REVIEW_ACTION:
                    continue
                for part in ext.get("extension") or ():
                    if part.get("url") == "reasonCode":
                        coding = ((part.get("valueCodeableConcept") or {}).get("coding") or [{}])[0]
                        return str(coding.get("display") or coding.get("code") or "denied")
    return None


def read_outcome(response: Resource) -> PasOutcome:
    found = decisions(response)
    granted = [d for d in found if d.authorizes]
    if granted:
        return PasOutcome("approved", granted[0].number, None, response)
    actions = {d.action for d in found}
    if "denied" in actions:
        return PasOutcome("denied", None, _reason(response) or "not certified", response)
    if actions and actions <= {"cancelled"}:
        return PasOutcome("cancelled", None, "cancelled by the payer", response)
    return PasOutcome("pended", None, _reason(response), response)
