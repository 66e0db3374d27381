"""The referral a visit is based on (HMO specialist visits): ``Claim.referral`` and its number.

The Encounter points at the referral through ``basedOn`` (mapping field ``encounter.referrals``); the
first target that is in the context, is a ServiceRequest and that the mapping calls a referral
(``service_request.referral``: category SNOMED 3457005) becomes ``Claim.referral``. Its number
(mapping field ``referral.number``, by default the ``urn:claimbridge:referral-number`` identifier)
is written once more on the claim as a ``supportingInfo`` entry, so an 837P writer (loop 2300
``REF*9F``) and the rules read it from the claim alone::

    {"category": claiminformationcategory#info, "code": urn:claimbridge:claim-info#referral-number,
     "valueString": "<number>"}

The referral's requester (``service_request.requester``) joins the care team as ``referring``
(claim level, 837P loop 2310A). A referral without a number is a ``missing-data.referral-number``
warning. A ``basedOn`` that points elsewhere (a CarePlan, an ordinary order) is not a referral and
is ignored; an unresolvable one is left to the rules (a plan that requires a referral reports it).
Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.domain.context import EncounterContext, key_of
from app.domain.findings import Finding
from app.mappers.issues import make_finding
from app.mappers.spec import MappingSet

INFO_CATEGORY = "http://terminology.hl7.org/CodeSystem/claiminformationcategory"
CLAIM_INFO_SYSTEM = "urn:claimbridge:claim-info"
REFERRAL_NUMBER_CODE = "referral-number"


@dataclass(frozen=True)
class Referral:
    reference: str  # ServiceRequest/<id>
    number: str | None
    requester: str | None  # Practitioner/<id> or PractitionerRole/<id>
    findings: list[Finding] = field(default_factory=list)

    def supporting_info(self, sequence: int) -> dict[str, Any] | None:
        """The ``supportingInfo`` entry carrying the referral number (None without a number)."""
        if not self.number:
            return None
        return {
            "sequence": sequence,
            "category": {"coding": [{"system": INFO_CATEGORY, "code": "info"}]},
            "code": {"coding": [{"system": CLAIM_INFO_SYSTEM, "code": REFERRAL_NUMBER_CODE}]},
            "valueString": self.number,
        }


def find_referral(ctx: EncounterContext, spec: MappingSet) -> Referral | None:
    """The referral the encounter is based on, or None when there is none in the context."""
    for ref in spec.values("encounter.referrals", ctx.encounter):
        target = ctx.resolve(ref)
        if target is None or target.get("resourceType") != "ServiceRequest":
            continue
        if not spec.flag("service_request.referral", target):
            continue
        return _referral(ctx, spec, target)
    return None


def _referral(ctx: EncounterContext, spec: MappingSet, target: dict[str, Any]) -> Referral:
    key = key_of(target)
    number = spec.one("referral.number", target)
    number = number.strip() if isinstance(number, str) and number.strip() else None
    requester = ctx.resolve(spec.one("service_request.requester", target))
    requester_key = (
        key_of(requester)
        if requester is not None and requester.get("resourceType") in ("Practitioner", "PractitionerRole")
        else None
    )
    findings = []
    if number is None:
        findings.append(
            make_finding(
                "missing-data.referral-number",
                message=f"the referral {key} has no referral number",
                location="ServiceRequest.identifier",
                source=key,
            )
        )
    return Referral(reference=key, number=number, requester=requester_key, findings=findings)
