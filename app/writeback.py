"""What claimbridge writes back to the EHR for a claim version, as plain R4 dicts (pure).

A claim with error or warning findings becomes a ``Task`` (status requested, intent order) focused
on the encounter, owned by no one yet, describing what blocks a clean claim and how to fix it; its
identifier is stable per claim so the EHR write is idempotent (conditional create/update).
A clean claim yields nothing to write back at this stage. A claim the encounter no longer yields
(:mod:`app.worker.retire`) gets the same Task, saying it is withdrawn or voided
(:func:`retirement_task`): the claim's open Task, if any, is replaced by it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.domain.findings import Finding, Severity

if TYPE_CHECKING:
    from app.evaluate import Evaluation

TASK_IDENTIFIER_SYSTEM = "urn:claimbridge:task"


def writeback_payload(ev: Evaluation, *, version: int) -> dict[str, Any] | None:
    actionable = [f for f in ev.findings if f.severity is not Severity.INFO]
    if not actionable:
        return None
    blocking = any(f.severity is Severity.ERROR for f in actionable)
    lines = [f"[{f.severity.value}] {f.message} Fix: {f.fix}" for f in actionable]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": TASK_IDENTIFIER_SYSTEM, "value": ev.claim_id}],
        "status": "requested",
        "intent": "order",
        "priority": "urgent" if blocking else "routine",
        "code": {"text": "Resolve claim findings before submission" if blocking else "Review claim findings"},
        "description": "\n".join(lines)[:4000],
        "focus": {"reference": ev.encounter},
        "input": [
            {"type": {"text": "claim"}, "valueString": f"{ev.claim_id} v{version}"},
            *({"type": {"text": f.rule}, "valueString": f.location or f.category.value} for f in actionable),
        ],
    }
    if ev.patient:
        task["for"] = {"reference": ev.patient}
    return task


def retirement_task(
    *, claim_id: str, encounter: str, patient: str | None, version: int, state: str, finding: Finding
) -> dict[str, Any]:
    """The Task telling billing staff that ``claim_id`` is ``withdrawn`` (never sent) or ``voided``."""
    action = {
        "withdrawn": "Claim withdrawn: nothing was sent to the payer",
        "voided": "Claim voided: a void (frequency 8) goes to the payer",
    }[state]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": TASK_IDENTIFIER_SYSTEM, "value": claim_id}],
        "status": "requested",
        "intent": "order",
        "priority": "routine",
        "code": {"text": action},
        "description": f"[{finding.severity.value}] {finding.message}"[:4000],
        "focus": {"reference": encounter},
        "input": [
            {"type": {"text": "claim"}, "valueString": f"{claim_id} v{version}"},
            {"type": {"text": finding.rule}, "valueString": finding.location or finding.category.value},
        ],
    }
    if patient:
        task["for"] = {"reference": patient}
    return task
