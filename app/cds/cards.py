"""CDS Hooks cards for CRD verdicts. Pure.

Every card has a ``uuid``, a summary under 140 characters, an indicator, ``source.label`` (the payer's
name when the card states the payer's rule, else claimbridge) and ``source.topic`` from the
``cdshooks-card-type`` code system (CRD resp-4/resp-5), and names the order it concerns
(``davinci-crd.associated-resource``, dev-24). A prior-authorization card suggests creating the
staff Task that starts the request; each suggestion has a ``uuid`` (resp-3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.cds.evaluate import Gathered, Verdict
    from app.domain.context import ResourceIndex
    from app.domain.payers import PayerDirectory, PayerProfile

CARD_TYPE = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
CLAIMBRIDGE = "claimbridge"
MAX_SUMMARY = 139


def _summary(text: str) -> str:
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1].rstrip() + "…"


def _card(summary: str, detail: str, *, indicator: str, label: str, topic: str, new_id: Callable[[], str],
          about: str | None = None) -> dict[str, Any]:  # fmt: skip
    card: dict[str, Any] = {
        "uuid": new_id(),
        "summary": _summary(summary),
        "indicator": indicator,
        "detail": detail,
        "source": {"label": label, "topic": {"system": CARD_TYPE, "code": topic}},
    }
    if about:
        card["extension"] = {"davinci-crd.associated-resource": [{"reference": about}]}
    return card


def _task_suggestion(verdict: Verdict, patient: str, new_id: Callable[[], str]) -> dict[str, Any]:
    payer = verdict.profile.name if verdict.profile else "the payer"
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"text": "Request prior authorization"},
        "description": f"Request prior authorization from {payer} for {', '.join(verdict.needs)}.",
        "focus": {"reference": verdict.order.ref},
        "for": {"reference": f"Patient/{patient}"},
    }
    action = {"type": "create", "description": "Add a task to request prior authorization", "resource": task}
    return {"label": "Create a task to request prior authorization", "uuid": new_id(), "isRecommended": True,
            "actions": [action]}  # fmt: skip


def for_verdict(verdict: Verdict, *, patient: str, new_id: Callable[[], str]) -> dict[str, Any] | None:
    """The card for one order's verdict, or None when nobody needs to act."""
    ref = verdict.order.ref
    if verdict.problem is not None or verdict.coverage is None:
        why = verdict.problem or "no active coverage was found for the patient"
        detail = (f"claimbridge could not determine the coverage requirements of **{ref}**: {why}. "
                  "Check the patient's coverage and the payer's requirements before the service.")  # fmt: skip
        return _card(f"Coverage requirements for {ref} could not be determined", detail, indicator="warning",
                     label=CLAIMBRIDGE, topic="coverage-info", new_id=new_id, about=ref)  # fmt: skip
    payer = verdict.profile.name if verdict.profile else CLAIMBRIDGE
    codes = ", ".join(verdict.needs)
    if verdict.on_file is not None:
        detail = f"Authorization **{verdict.on_file.number}** from {payer} is on file for {codes}."
        return _card(f"Prior authorization {verdict.on_file.number} on file for {codes}", detail, indicator="info",
                     label=payer, topic="coverage-info", new_id=new_id, about=ref)  # fmt: skip
    if not verdict.needs:
        return None
    detail = (f"{payer} requires prior authorization for **{codes}** ({ref}). No authorization is on file.\n\n"
              "Submit the request (Da Vinci PAS, X12 278 or the payer portal) with the clinical documentation; "
              "the claim will be held until the authorization number is on it.")  # fmt: skip
    card = _card(f"Prior authorization required by {payer} for {codes}", detail, indicator="warning",
                 label=payer, topic="coverage-info", new_id=new_id, about=ref)  # fmt: skip
    card["suggestions"] = [_task_suggestion(verdict, patient, new_id)]
    card["selectionBehavior"] = "at-most-one"
    return card


def for_visit(
    gathered: Gathered,
    payers: PayerDirectory,
    *,
    profile_for: Callable[[dict[str, Any], ResourceIndex, PayerDirectory], PayerProfile],
    primary: Callable[[dict[str, Any] | None, Gathered], dict[str, Any] | None],
    new_id: Callable[[], str],
) -> list[dict[str, Any]]:
    """Cards for a hook without orders (encounter-start): coverage missing, unknown or unreadable."""
    if gathered.problems:
        detail = f"claimbridge could not check the patient's coverage: {gathered.problems[0]}."
        return [_card("Coverage could not be checked", detail, indicator="warning", label=CLAIMBRIDGE,
                      topic="insurance", new_id=new_id)]  # fmt: skip
    coverage = primary(None, gathered)
    if coverage is None:
        detail = "No active Coverage was found for the patient: the visit cannot be billed to a payer as is."
        return [_card("No active coverage on file for this patient", detail, indicator="warning", label=CLAIMBRIDGE,
                      topic="insurance", new_id=new_id)]  # fmt: skip
    if profile_for(coverage, gathered.index, payers).is_default:
        detail = "The patient's payer has no claimbridge payer profile: its prior-authorization rules are unknown."
        return [_card("Payer rules unknown for this patient's coverage", detail, indicator="info", label=CLAIMBRIDGE,
                      topic="insurance", new_id=new_id)]  # fmt: skip
    return []
