"""The orders a hook is about, read into what the prior-auth rules need. Pure.

A draft order (ServiceRequest, MedicationRequest, DeviceRequest) names its billable codes in
``code`` / ``medicationCodeableConcept`` / ``codeCodeableConcept`` and, as CRD recommends, in
``ext-billing-options`` extensions on that element. The claim mapping's code tables
(``service_request.code`` / ``medication_request.code``) translate local order codes first, so an
order is judged on the code its claim line would carry. Units come from ``quantityQuantity``
(ServiceRequest) or ``dispenseRequest.quantity`` (MedicationRequest); the place of service from a
``locationCode`` coding in the CMS place-of-service system. Other resource types in ``draftOrders``
(NutritionOrder, CommunicationRequest...) are out of scope for prior authorization and get no
coverage assertion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Resource = dict[str, Any]

BILLING_OPTIONS = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-billing-options"
POS_SYSTEM = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
CODE_ELEMENT = {
    "ServiceRequest": "code",
    "MedicationRequest": "medicationCodeableConcept",
    "DeviceRequest": "codeCodeableConcept",
}
ORDER_TYPES = frozenset(CODE_ELEMENT)
#: The claim mapping's own translation of an order's codes (local codes → CPT/HCPCS), as codings.
CodeMap = Callable[[Resource], list[dict[str, Any]]]
MAPPED_FIELDS = {"ServiceRequest": "service_request.code", "MedicationRequest": "medication_request.code"}


@dataclass(frozen=True)
class Order:
    """One in-scope order: its reference, billable codes (first: the order's own), units, POS."""

    resource: Resource
    ref: str
    codes: tuple[str, ...]
    codings: tuple[dict[str, Any], ...]
    units: float | None
    pos: str | None

    @property
    def resource_type(self) -> str:
        return str(self.resource.get("resourceType"))


def _own(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or () if isinstance(c, dict) and isinstance(c.get("code"), str)]


def _options(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    exts = [e for e in concept.get("extension") or () if isinstance(e, dict) and e.get("url") == BILLING_OPTIONS]
    return [c for e in exts for c in _own(e.get("valueCodeableConcept"))]


def _units(resource: Resource) -> float | None:
    qty = resource.get("quantityQuantity")
    if resource.get("resourceType") == "MedicationRequest":
        qty = (resource.get("dispenseRequest") or {}).get("quantity")
    value = qty.get("value") if isinstance(qty, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _pos(resource: Resource) -> str | None:
    for concept in resource.get("locationCode") or ():
        for coding in (concept or {}).get("coding") or ():
            if isinstance(coding, dict) and coding.get("system") == POS_SYSTEM and coding.get("code"):
                return str(coding["code"])
    return None


def read_order(resource: Resource, mapped: Iterable[dict[str, Any]] = ()) -> Order | None:
    """The order in ``resource`` (``mapped``: its codes as the claim mapping translates them, first), or
    None when its type is not one prior authorization applies to."""
    element = CODE_ELEMENT.get(str(resource.get("resourceType")))
    if element is None:
        return None
    concept, translated = resource.get(element), list(mapped)
    # the billed candidates: the claim mapping's translation, else CRD's billing options, else the codes as given
    codings = [*translated, *_options(concept)] or _own(concept)
    codes = tuple(dict.fromkeys(str(c["code"]).strip() for c in codings))
    ref = f"{resource.get('resourceType')}/{resource.get('id')}"
    return Order(resource, ref, codes, tuple(codings), _units(resource), _pos(resource))


def bundle_resources(bundle: Any) -> list[Resource]:
    """The resources of a Bundle (``draftOrders``, ``appointments``, a prefetch searchset)."""
    if not isinstance(bundle, dict):
        return []
    if bundle.get("resourceType") != "Bundle":
        return [bundle] if bundle.get("resourceType") else []
    return [
        e["resource"] for e in bundle.get("entry") or () if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]


def mapping_code_map(values: Callable[[str, Resource], list[Any]]) -> CodeMap:
    """A :data:`CodeMap` from a mapping set's ``values(field, resource)`` (the claim mapping)."""

    def code_map(resource: Resource) -> list[dict[str, Any]]:
        name = MAPPED_FIELDS.get(str(resource.get("resourceType")))
        if name is None:
            return []
        try:
            found = values(name, resource)
        except Exception:
            return []
        return [v.coding() if hasattr(v, "coding") else v for v in found if hasattr(v, "coding") or isinstance(v, dict)]

    return code_map
