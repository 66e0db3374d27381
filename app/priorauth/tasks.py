"""Write-back payloads for a prior-authorization alert (pure): the staff Task and the order's extension.

The Task is identified by ``urn:claimbridge:prior-auth|<order reference>`` so the EHR write is
idempotent (conditional create, then update under If-Match). Its ``businessStatus`` follows the
alert's state; an approved, denied or cancelled alert ends the Task (completed / failed / cancelled).
"""

from __future__ import annotations

from typing import Any

from app.db.priorauth_repo import Alert

TASK_SYSTEM = "urn:claimbridge:prior-auth"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
BUSINESS_STATUS = "urn:claimbridge:prior-auth-status"
TASK_STATUS = {
    "open": "requested", "submitted": "in-progress", "pended": "in-progress",
    "approved": "completed", "denied": "failed", "cancelled": "cancelled",
}  # fmt: skip
TERMINAL = frozenset({"completed", "failed", "cancelled"})


def alert_task(alert: Alert, *, order: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Task for the staff work queue that says the order needs authorization (and how far it got)."""
    codes = ", ".join(alert.codes)
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": TASK_SYSTEM, "value": alert.order_ref}],
        "status": TASK_STATUS[alert.status],
        "businessStatus": {"coding": [{"system": BUSINESS_STATUS, "code": alert.status}], "text": alert.status},
        "intent": "order",
        "priority": "urgent",
        "code": {"coding": [{"system": TASK_CODE, "code": "fulfill"}], "text": "Obtain prior authorization"},
        "description": f"{alert.payer_name} requires prior authorization for {codes} ({alert.order_ref}).",
        "focus": {"reference": alert.order_ref},
        "requester": {"display": "claimbridge"},
        "input": [
            {"type": {"text": "payer"}, "valueString": f"{alert.payer_name} ({alert.payer_id})"},
            {"type": {"text": "rule"}, "valueString": alert.rule},
            {"type": {"text": "codes"}, "valueString": codes},
            {"type": {"text": "coverage-assertion-id"}, "valueString": alert.assertion_id},
        ],
    }
    if alert.patient:
        task["for"] = {"reference": alert.patient}
    if alert.encounter:
        task["encounter"] = {"reference": alert.encounter}
    requester = (order or {}).get("requester")
    if isinstance(requester, dict) and requester.get("reference"):
        task["owner"] = {"reference": requester["reference"]}  # the ordering clinician's queue
    if alert.reason:
        task["statusReason"] = {"text": alert.reason[:500]}
    if alert.pre_auth_ref:
        task["output"] = [{"type": {"text": "preAuthRef"}, "valueString": alert.pre_auth_ref}]
    return task


def order_coverage(order_ref: str, extension: dict[str, Any]) -> dict[str, Any]:
    """The ``order-coverage`` delivery: put ``extension`` on the order (conditional update, If-Match)."""
    return {"order": order_ref, "extension": extension}
