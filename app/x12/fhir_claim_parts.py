"""Claim-level 837P parts read from an R4 Claim beyond the basics of :mod:`app.x12.from_fhir`. Pure.

- ``REF*9F`` referral number and ``REF*X4`` CLIA number: ``supportingInfo`` entries coded
  ``urn:claimbridge:claim-info#referral-number`` / ``#clia-number`` (``valueString``); the CLIA number
  falls back to the billing Organization's CLIA identifier (``urn:oid:2.16.840.1.113883.4.7``).
- CLM07/CLM08/CLM09: ``supportingInfo`` ``#assignment``, ``#benefits-assignment``,
  ``#release-of-information`` (the provider's participation settings, stamped by the mapper).
- CLM11 / DTP*439: ``Claim.accident`` (type v3-ActIncidentCode ``MVA`` → AA, ``WPA`` → EM, any
  other → OA; ``locationAddress.state`` → CLM11-4; ``date`` → DTP*439).
- 2010AB pay-to: the billing Organization's ``postal`` address when it differs from its physical one.
- 2310C service facility: ``Claim.facility`` (a Location with an address) when its address is not
  the billing provider's.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from app.domain.context import EncounterContext
from app.x12 import systems as sy
from app.x12.fhir_parts import MissingPart, address, coding_code, identifier_value, parse_date
from app.x12.inputs import DEFAULT_PARTICIPATION, Address, Participation, ServiceFacility

Resource = dict[str, Any]
CLAIM_INFO = "urn:claimbridge:claim-info"
CLIA = "urn:oid:2.16.840.1.113883.4.7"
INCIDENT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACCIDENT_CAUSE = {"MVA": "AA", "WPA": "EM"}


def info_value(claim: Resource, code: str) -> str:
    """The ``valueString`` of the claim's supportingInfo entry with our code ``code`` ('' if none)."""
    for info in claim.get("supportingInfo") or ():
        if coding_code(info.get("code"), CLAIM_INFO) == code and isinstance(info.get("valueString"), str):
            return str(info["valueString"]).strip()
    return ""


def clia_number(claim: Resource, billing: Resource | None) -> str:
    return info_value(claim, "clia-number") or (identifier_value(billing, CLIA) if billing else None) or ""


def participation(claim: Resource) -> Participation:
    d = DEFAULT_PARTICIPATION
    return Participation(
        assignment=info_value(claim, "assignment") or d.assignment,
        benefits_assignment=info_value(claim, "benefits-assignment") or d.benefits_assignment,
        release_of_information=info_value(claim, "release-of-information") or d.release_of_information,
    )


def accident(claim: Resource) -> tuple[tuple[str, ...], str, date | None]:
    """(CLM11 related causes, CLM11-4 state, DTP*439 date) of ``Claim.accident``."""
    found = claim.get("accident")
    if not isinstance(found, dict):
        return (), "", None
    cause = ACCIDENT_CAUSE.get(coding_code(found.get("type"), INCIDENT) or "", "OA")
    state = str((found.get("locationAddress") or {}).get("state") or "")
    when = parse_date(found["date"], "Claim.accident.date") if found.get("date") else None
    return (cause,), state, when


def physical_only(org: Resource) -> Resource:
    """``org`` without its postal-only addresses (when it has another), for the 2010AA street address."""
    addresses = org.get("address") or []
    physical = [a for a in addresses if a.get("type") != "postal"]
    return {**org, "address": physical} if physical and len(physical) != len(addresses) else org


def pay_to_address(org: Resource, where: str, billing_address: Address) -> Address | None:
    postal = [a for a in org.get("address") or () if a.get("type") == "postal"]
    if not postal:
        return None
    found = address({"address": postal}, where)
    return None if found == billing_address else found


def service_facility(claim: Resource, ctx: EncounterContext, billing_address: Address) -> ServiceFacility | None:
    location = ctx.resolve(claim.get("facility")) if claim.get("facility") else None
    if location is None or location.get("resourceType") != "Location" or not location.get("address"):
        return None
    where = f"Location/{location.get('id')}"
    site = address({"address": [location["address"]]}, where)
    if site == billing_address:
        return None
    if not location.get("name"):
        raise MissingPart(f"{where}.name is missing (2310C service facility)")
    return ServiceFacility(name=str(location["name"]), address=site, npi=identifier_value(location, sy.NPI) or "")
