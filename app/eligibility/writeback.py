"""What an eligibility answer writes back to the EHR (pure): the response, and a Task per error.

- a ``CoverageEligibilityResponse`` (valid R4) for every answer the payer gave, identified per check
  (``urn:claimbridge:eligibility-response|check-<id>``) so the EHR write is a conditional create;
- a front-desk ``Task`` for each error (coverage not in force, outside the benefit period, each payer
  refusal), saying what to fix, identified per check and error (created once).

An ``unverified`` result writes nothing: there is no payer answer to record, and the claim's
eligibility warning already routes it to a work queue.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from app.domain.eligibility import EligibilityResult, in_period

RESPONSE_SYSTEM = "urn:claimbridge:eligibility-response"
REQUEST_SYSTEM = "urn:claimbridge:eligibility-request"
TASK_SYSTEM = "urn:claimbridge:eligibility-task"
PAYER_ID = "urn:claimbridge:payer-id"
ERROR_SYSTEM = "urn:claimbridge:eligibility-error"
BENEFIT_TYPE = "http://terminology.hl7.org/CodeSystem/benefit-type"
_TYPES = {
    "copay": "copay",
    "coinsurance": "copay-percent",
    "deductible": "deductible",
    "out-of-pocket": "copay-maximum",
}


def response_resource(result: EligibilityResult, *, check_id: int) -> dict[str, Any] | None:
    """The CoverageEligibilityResponse for one answered check (None for ``unverified``)."""
    if result.status == "unverified":
        return None
    insurance: dict[str, Any] = {"coverage": {"reference": result.coverage}}
    if result.inforce is not None:
        insurance["inforce"] = result.inforce
    if result.benefit_period:
        period = {k: v for k, v in zip(("start", "end"), result.benefit_period, strict=True) if v}
        if period:
            insurance["benefitPeriod"] = period
    items = [_item(b.kind, b.service_type, b.amount, b.used, b.percent, b.network) for b in result.benefits]
    items += [
        {"category": {"coding": [{"code": s}]}, "authorizationRequired": True} for s in result.authorization_required
    ]
    if items:
        insurance["item"] = items
    resource: dict[str, Any] = {
        "resourceType": "CoverageEligibilityResponse",
        "identifier": [{"system": RESPONSE_SYSTEM, "value": f"check-{check_id}"}],
        "status": "active",
        "purpose": ["validation", "benefits"],
        "patient": {"reference": result.patient},
        "servicedDate": result.service_date,
        "created": result.checked_at,
        "request": {"identifier": {"system": REQUEST_SYSTEM, "value": f"check-{check_id}"}},
        "outcome": "error" if result.status == "error" else "complete",
        "insurer": {"identifier": {"system": PAYER_ID, "value": result.payer_id}},
        "insurance": [insurance],
    }
    if result.outcome:
        resource["disposition"] = result.outcome[:1000]
    if result.errors:
        resource["error"] = [
            {"code": {"coding": [{"system": ERROR_SYSTEM, "code": e.code}], "text": e.text}} for e in result.errors
        ]
    return resource


def _item(kind: str, service: str | None, amount: float | None, used: float | None, percent: float | None,
          network: str | None) -> dict[str, Any]:  # fmt: skip
    benefit: dict[str, Any] = {"type": {"coding": [{"system": BENEFIT_TYPE, "code": _TYPES.get(kind, "benefit")}]}}
    if percent is not None:
        benefit["allowedUnsignedInt"] = round(percent * 100)
    elif amount is not None:
        benefit["allowedMoney"] = {"value": amount, "currency": "USD"}
    if used is not None:
        benefit["usedMoney"] = {"value": used, "currency": "USD"}
    item: dict[str, Any] = {"benefit": [benefit]}
    if service:
        item["category"] = {"coding": [{"code": service}]}
    if network in ("in", "out"):
        item["network"] = {"coding": [{"code": network}]}
    return item


def problems(result: EligibilityResult) -> list[tuple[str, str, str]]:
    """(code, what, fix) for each error the front desk must act on."""
    out = [(e.code, e.text, e.fix) for e in result.errors if not e.temporary]
    if result.status == "inactive" or result.inforce is False:
        out.append(("inactive", "the payer says the coverage is not in force",
                    "Ask the patient for current insurance; update the Coverage and re-verify."))  # fmt: skip
    elif result.status == "active" and not in_period(result.benefit_period, date.fromisoformat(result.service_date)):
        out.append(("benefit-period", "the date of service is outside the payer's benefit period",
                    "Check the plan dates with the patient; bill the coverage in force on that day."))  # fmt: skip
    return out


def tasks(result: EligibilityResult, *, check_id: int) -> list[dict[str, Any]]:
    """One front-desk Task per problem."""
    out = []
    for code, what, fix in problems(result):
        out.append(
            {
                "resourceType": "Task",
                "identifier": [{"system": TASK_SYSTEM, "value": f"check-{check_id}-{code}"}],
                "status": "requested",
                "intent": "order",
                "priority": "urgent",
                "code": {"text": "Fix registration: eligibility"},
                "description": f"Eligibility for {result.service_date} ({result.payer_id}): {what}. Fix: {fix}",
                "focus": {"reference": result.coverage},
                "for": {"reference": result.patient},
            }
        )
    return out
