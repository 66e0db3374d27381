"""The Da Vinci PAS request Bundle for an order, and the checks it must pass before it is sent. Pure.

:func:`request_bundle` builds ``Bundle.type`` = ``collection`` with a fresh ``identifier`` and
``timestamp``; ``entry[0]`` is the Claim (``use`` = ``preauthorization``, ``status`` = ``active``,
the order as ``extension-requestedService`` on the item, the coverage-assertion-id as the item trace
number), then every resource the Claim references, recursively (Patient, Coverage, insurer and
provider Organizations / Practitioners, the order), each once, under a fresh ``urn:uuid`` fullUrl
with the references rewritten to it (PAS spec-13/14/16/17). A reference of a supporting resource
that claimbridge cannot resolve keeps only a ``display`` saying so (the Claim's own references must
all resolve, else the request is refused).

:func:`bundle_problems` is what :func:`request_bundle`'s output and any Bundle handed in (a fixture)
are held to: Bundle shape, Claim first with the fixed values, ``fullUrl`` + ``resource`` and no
``request`` / ``response`` on every entry, unique fullUrls, every reference resolving to an entry,
every resource valid R4. A non-empty list refuses the submission before anything is sent.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from app.domain.context import ref_of
from app.fhir.r4 import InvalidResource, validate_resource

Resource = dict[str, Any]
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
REQUESTED_SERVICE = PAS + "extension-requestedService"
ITEM_TRACE = PAS + "extension-itemTraceNumber"
CERTIFICATION_TYPE = PAS + "extension-certificationType"
SUBMITTER = "urn:claimbridge:pas-submission"
TRACE_SYSTEM = "urn:claimbridge:coverage-assertion"
CPT = "http://www.ama-assn.org/go/cpt"


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def claim_for(order: Resource, coverage: Resource, *, payer_org: str, codes: list[str], assertion_id: str,
              created: str) -> Resource:  # fmt: skip
    """The PAS Claim for one order (one item per code that needs authorization)."""
    provider = order.get("requester") or order.get("performer") or {}
    provider = provider[0] if isinstance(provider, list) and provider else provider
    order_ref = f"{order['resourceType']}/{order['id']}"
    items = [{
        "extension": [
            {"url": REQUESTED_SERVICE, "valueReference": {"reference": order_ref}},
            {"url": ITEM_TRACE, "valueIdentifier": {"system": TRACE_SYSTEM, "value": assertion_id}},
            {"url": CERTIFICATION_TYPE, "valueCodeableConcept": {
                "coding": [{"system": "https://codesystem.x12.org/005010/1322", "code": "I"}]}},
        ],
        "sequence": n,
        "productOrService": {"coding": [{"system": CPT, "code": code}]},
        "quantity": {"value": _units(order)},
    } for n, code in enumerate(codes, start=1)]  # fmt: skip
    claim: Resource = {
        "resourceType": "Claim",
        "id": f"pa-{order['id']}"[:64],
        "meta": {"profile": [PAS + "profile-claim"]},
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "preauthorization",
        "patient": {"reference": ref_of(coverage.get("beneficiary")) or ref_of(order.get("subject"))},
        "created": created,
        "insurer": {"reference": payer_org},
        "provider": {"reference": ref_of(provider) or payer_org},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/{coverage['id']}"}}],
        "item": items,
    }
    return claim


def _units(order: Resource) -> float:
    qty = order.get("quantityQuantity") or (order.get("dispenseRequest") or {}).get("quantity") or {}
    value = qty.get("value") if isinstance(qty, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 1.0


def request_bundle(claim: Resource, resolve: Callable[[dict[str, Any]], Resource | None], *, now: datetime,
                   new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> Resource:  # fmt: skip
    """Claim first, then its references closed over (those ``resolve`` finds), under urn:uuid fullUrls."""
    members: dict[str, Resource] = {"Claim/" + claim["id"]: copy.deepcopy(claim)}
    pending = [claim]
    while pending:
        for ref in _walk(pending.pop()):
            key = ref_of(ref)
            if key and key not in members and (found := resolve(ref)) is not None:
                members[key] = copy.deepcopy(found)
                pending.append(found)
    urls = {key: f"urn:uuid:{new_id()}" for key in members}
    for owner, resource in members.items():
        for ref in _walk(resource):
            key = ref_of(ref)
            if key in urls:
                ref["reference"] = urls[key]
            elif not owner.startswith("Claim/") and not str(ref["reference"]).startswith("#"):
                # a supporting resource points at something claimbridge does not hold: say so, keep the rest
                ref.pop("reference")
                ref.setdefault("display", f"{key or 'resource'} (not available to the submitter)")
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [PAS + "profile-pas-request-bundle"]},
        "identifier": {"system": SUBMITTER, "value": new_id()},
        "type": "collection",
        "timestamp": now.isoformat(timespec="seconds"),
        "entry": [{"fullUrl": urls[key], "resource": r} for key, r in members.items()],
    }


def _resolves(reference: str, full_urls: set[str], tails: set[str]) -> bool:
    if reference.startswith("#") or reference in full_urls:
        return True
    return "://" not in reference and not reference.startswith("urn:") and reference in tails


def bundle_problems(bundle: Any) -> list[str]:
    """Why ``bundle`` is not a PAS request Bundle claimbridge may send (empty: it is)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return ["not a Bundle"]
    problems = []
    if bundle.get("type") != "collection":
        problems.append("Bundle.type must be collection")
    if not (bundle.get("identifier") or {}).get("value") or not bundle.get("timestamp"):
        problems.append("Bundle.identifier and Bundle.timestamp are required")
    entries = [e for e in bundle.get("entry") or () if isinstance(e, dict)]
    first = (entries[0].get("resource") or {}) if entries else {}
    if first.get("resourceType") != "Claim":
        return [*problems, "the first entry must be the Claim (PAS ClaimFirst)"]
    if first.get("use") != "preauthorization" or first.get("status") != "active":
        problems.append("the Claim must have use preauthorization and status active")
    for field in ("patient", "insurer", "provider", "insurance", "item", "created", "type", "priority"):
        if not first.get(field):
            problems.append(f"Claim.{field} is required")
    urls = [e.get("fullUrl") for e in entries]
    if any(not u or not isinstance(e.get("resource"), dict) for u, e in zip(urls, entries, strict=True)):
        problems.append("every entry needs fullUrl and resource")
    if any(k in e for e in entries for k in ("request", "response", "search")):
        problems.append("entries must not carry request, response or search")
    if len(set(urls)) != len(urls):
        problems.append("an entry appears twice (fullUrl)")
    full, tails = {u for u in urls if isinstance(u, str)}, set()
    for e in entries:
        resource = e.get("resource") or {}
        tails.add(f"{resource.get('resourceType')}/{resource.get('id')}")
    for e in entries:
        resource = e.get("resource") or {}
        missing = [r["reference"] for r in _walk(resource) if not _resolves(r["reference"], full, tails)]
        if missing:
            problems.append(f"{resource.get('resourceType')} references something not in the Bundle")
        try:
            validate_resource(resource)
        except InvalidResource as exc:
            problems.append(str(exc))
    return problems


def inquiry_bundle(
    request: Resource, *, now: datetime, new_id: Callable[[], str] = lambda: str(uuid.uuid4())
) -> Resource:
    """The ``Claim/$inquire`` Bundle for a submitted request: the same Claim and resources, a new identifier."""
    inquiry = copy.deepcopy(request)
    inquiry["identifier"] = {"system": SUBMITTER, "value": new_id()}
    inquiry["timestamp"] = now.isoformat(timespec="seconds")
    inquiry["meta"] = {"profile": [PAS + "profile-pas-inquiry-request-bundle"]}
    return inquiry
