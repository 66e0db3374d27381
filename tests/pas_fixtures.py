"""The Da Vinci PAS response fixtures (tests/fixtures/pas, see SOURCES.md there) as ClaimResponse dicts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

PAS_FIXTURES = Path(__file__).parent / "fixtures" / "pas"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
ACTION_SYSTEM = "https://codesystem.x12.org/005010/306"


def claim_response(name: str) -> dict[str, Any]:
    """The first ClaimResponse in fixture ``name`` (a PAS response Bundle or a notification carrying one)."""
    bundle = json.loads((PAS_FIXTURES / name).read_text())
    found = _find(bundle)
    assert found is not None, name
    return copy.deepcopy(found)


def _find(bundle: dict[str, Any]) -> dict[str, Any] | None:
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "ClaimResponse":
            return resource
        if resource.get("resourceType") == "Bundle" and (inner := _find(resource)) is not None:
            return inner
    return None


def review_item(
    sequence: int,
    action: str,
    *,
    number: str | None = None,
    code: str | None = None,
    quantity: float | None = None,
    period: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A PAS ``ClaimResponse.item`` shaped like the fixtures': the review action on its adjudication."""
    review: list[dict[str, Any]] = [{
        "url": PAS + "extension-reviewActionCode",
        "valueCodeableConcept": {"coding": [{"system": ACTION_SYSTEM, "code": action}]},
    }]  # fmt: skip
    if number:
        review.insert(0, {"url": "number", "valueString": number})
    item: dict[str, Any] = {"extension": [], "itemSequence": sequence, "adjudication": [{
        "extension": [{"url": PAS + "extension-reviewAction", "extension": review}],
        "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adjudication", "code": "submitted"}]},
    }]}  # fmt: skip
    if period:
        item["extension"].append({"url": PAS + "extension-itemPreAuthPeriod",
                                  "valuePeriod": {"start": period[0], "end": period[1]}})  # fmt: skip
    detail: list[dict[str, Any]] = []
    if code:
        cpt = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]}
        detail.append({"url": "productOrServiceCode", "valueCodeableConcept": cpt})
    if quantity is not None:
        detail.append({"url": "quantity", "valueQuantity": {"value": quantity}})
    if detail:
        item["extension"].append({"url": PAS + "extension-itemAuthorizedDetail", "extension": detail})
    return item
