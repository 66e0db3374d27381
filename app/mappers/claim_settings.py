"""Payer- and provider-specific settings applied to a mapped Claim, before the rules run. Pure.

:func:`apply_claim_settings` returns a new Claim dict (the input is not changed):

- **Payer codes** (payer profile ``code_overrides``): a line's code becomes the payer's own code,
  e.g. Medicare Part B's G0008 for flu vaccine administration (90471 next to a flu vaccine). The
  line keeps its charge (the service did not change, only its name for that payer). Vaccine
  administration lines (90471/90472) are paired with the vaccine products they administer
  (``vaccine_administration``, :mod:`app.domain.vaccine_admin`).
- **CLIA** (``config/providers.yaml`` of the billing NPI): a claim with a CLIA-covered lab test
  (CPT 80047-89398) gets the lab's CLIA number as ``supportingInfo``
  ``urn:claimbridge:claim-info#clia-number`` (837P ``REF*X4``); under a certificate of waiver,
  waived tests get modifier QW (not the tests CMS exempts from QW).
- **JZ / JW** (payer profile ``drug_waste_modifiers``, Medicare Part B): a drug line from
  single-dose containers (the mapper's ``single-dose-waste`` extension: billing units discarded)
  gets JZ when nothing was discarded, else a second line of the discarded units with JW.
- **Billing taxonomy** (``#billing-taxonomy``, 837P ``PRV*BI``) and **participation**
  (``#assignment``, ``#benefits-assignment``, ``#release-of-information``: CLM07-CLM09).
- **Supervising provider**: an ``Encounter.participant`` typed ``claimcareteamrole#supervisor``
  joins the care team with that role (837P 2310D).
- **Service facility**: the Encounter's first Location becomes ``Claim.facility`` (837P 2310C when
  its address is not the billing provider's).
- **Void**: an Encounter now ``entered-in-error`` or ``cancelled`` makes its claim ``cancelled``; the
  submitter sends it as a void (frequency 8 with the payer's claim number) when the payer holds the
  claim, and the 837P builder refuses it otherwise (nothing to void).
- **Accident** (CLM11, DTP*439): when no ``Claim.accident`` is set and a diagnosis is an
  external-cause code of a transport accident (V00-V99: ``MVA``, the state of the patient's address
  as the accident state) or of another accident (W00-X58: no type, "other accident"), the date is
  the first date of service (the EHR's own ``Claim.accident`` would be better: see docs/rules.md).
"""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.domain.context import EncounterContext, key_of
from app.domain.payers import PayerProfile
from app.domain.providers import ProviderSettings
from app.domain.vaccine_admin import is_administration, pair_administrations

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
PROCEDURE_SYSTEMS = frozenset({CPT, HCPCS, "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"})
INFO_CATEGORY = "http://terminology.hl7.org/CodeSystem/claiminformationcategory"
CLAIM_INFO = "urn:claimbridge:claim-info"
CARE_TEAM_ROLE = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# CLIA-waived tests billed with QW under a certificate of waiver (a small synthetic subset of the CMS
# list), and the waived tests CMS exempts from QW.
CLIA_WAIVED = frozenset({"80061", "81003", "82947", "83036", "85018", "85610", "86308", "87804", "87880"})
QW_EXEMPT = frozenset({"81002", "81025", "82270", "82272", "82962", "83026", "84830", "85013", "85651"})
MAX_MODIFIERS = 4
VOIDED = frozenset({"entered-in-error", "cancelled"})  # Encounter.status that voids its claim
DRUG_WASTE_URL = "http://claimbridge.example.org/fhir/StructureDefinition/single-dose-waste"

Resource = dict[str, Any]


def is_clia_lab(code: str) -> bool:
    """A CLIA-covered laboratory test: CPT 80047-89398 (pathology and laboratory)."""
    return len(code) == 5 and code.isdigit() and "80047" <= code <= "89398"


def line_code(item: Resource) -> str:
    for coding in (item.get("productOrService") or {}).get("coding") or ():
        if coding.get("system") in PROCEDURE_SYSTEMS and coding.get("code"):
            return str(coding["code"])
    return ""


def _info(claim: Resource, code: str, value: str) -> None:
    infos = claim["supportingInfo"] = list(claim.get("supportingInfo") or ())
    if any(i.get("code", {}).get("coding", [{}])[0].get("code") == code for i in infos):
        return
    infos.append({
        "sequence": max((int(i.get("sequence", 0)) for i in infos), default=0) + 1,
        "category": {"coding": [{"system": INFO_CATEGORY, "code": "info"}]},
        "code": {"coding": [{"system": CLAIM_INFO, "code": code}]},
        "valueString": value,
    })  # fmt: skip


def _vaccine_admin(claim: Resource, profile: PayerProfile) -> None:
    items = claim.get("item") or []
    table = profile.vaccine_administration
    admins = [i for i in items if is_administration(line_code(i), table)] if table else []
    if not admins:
        return
    lines = [(line_code(i), (i.get("quantity") or {}).get("value")) for i in items]
    pairing = pair_administrations(lines, table)
    for item, wanted in zip(admins, pairing.codes or (), strict=False):
        if wanted != line_code(item):
            item["productOrService"] = {"coding": [{"system": CPT if wanted[0].isdigit() else HCPCS, "code": wanted}]}


def _payer_codes(claim: Resource, profile: PayerProfile) -> None:
    _vaccine_admin(claim, profile)
    if not profile.code_overrides:
        return
    items = claim.get("item") or []
    codes = frozenset(c for i in items if (c := line_code(i)))
    for item in items:
        code = line_code(item)
        wanted = profile.payer_code(code, codes) if code else code
        if wanted != code:
            system = CPT if wanted[0].isdigit() else HCPCS
            item["productOrService"] = {"coding": [{"system": system, "code": wanted}]}


def _money(value: float | Decimal) -> float:
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _drug_waste(claim: Resource) -> None:
    """JZ on single-dose drug lines with nothing discarded; a JW line for the discarded units."""
    items = claim.get("item") or []
    for item in list(items):
        waste = next((e.get("valueDecimal") for e in item.get("extension") or () if e.get("url") == DRUG_WASTE_URL),
                     None)  # fmt: skip
        if not isinstance(waste, int | float) or len(item.get("modifier") or ()) >= MAX_MODIFIERS:
            continue
        if waste == 0:
            item["modifier"] = [*(item.get("modifier") or ()), {"coding": [{"system": HCPCS, "code": "JZ"}]}]
            continue
        jw = copy.deepcopy(item)
        price = Decimal(str((item.get("unitPrice") or {}).get("value") or 0))
        jw.pop("extension")
        jw["sequence"] = max(int(i.get("sequence", 0)) for i in items) + 1
        jw["quantity"] = {"value": waste}
        jw["modifier"] = [*(item.get("modifier") or ()), {"coding": [{"system": HCPCS, "code": "JW"}]}]
        jw["net"] = {**item.get("net", {}), "value": _money(price * Decimal(str(waste)))}
        for detail in jw.get("detail") or ():
            detail.pop("quantity", None)
        items.append(jw)
        total = claim.get("total") or {}
        sum_ = Decimal(str(total.get("value") or 0)) + Decimal(str(jw["net"]["value"]))
        claim["total"] = {**total, "value": _money(sum_)}


def _provider(claim: Resource, settings: ProviderSettings) -> None:
    items = claim.get("item") or []
    labs = [i for i in items if is_clia_lab(line_code(i))]
    if labs and settings.clia_number:
        _info(claim, "clia-number", settings.clia_number)
    if labs and settings.clia_certificate == "waiver":
        for item in labs:
            code = line_code(item)
            mods = [m.get("coding", [{}])[0].get("code") for m in item.get("modifier") or ()]
            if code in CLIA_WAIVED and code not in QW_EXEMPT and "QW" not in mods and len(mods) < MAX_MODIFIERS:
                item["modifier"] = [*(item.get("modifier") or ()), {"coding": [{"system": HCPCS, "code": "QW"}]}]
    for code, value in (("billing-taxonomy", settings.taxonomy), ("assignment", settings.assignment),
                        ("benefits-assignment", settings.benefits_assignment),
                        ("release-of-information", settings.release_of_information)):  # fmt: skip
        if value:
            _info(claim, code, value)


def _supervisor(claim: Resource, ctx: EncounterContext) -> None:
    for participant in ctx.encounter.get("participant") or ():
        roles = [c for t in participant.get("type") or () for c in t.get("coding") or ()]
        if not any(c.get("system") == CARE_TEAM_ROLE and c.get("code") == "supervisor" for c in roles):
            continue
        who = ctx.resolve(participant.get("individual"))
        if who is None or who.get("resourceType") not in ("Practitioner", "PractitionerRole"):
            continue
        team = claim["careTeam"] = list(claim.get("careTeam") or ())
        team.append({"sequence": len(team) + 1, "provider": {"reference": key_of(who)},
                     "role": {"coding": [{"system": CARE_TEAM_ROLE, "code": "supervisor"}]}})  # fmt: skip
        return


def _facility(claim: Resource, ctx: EncounterContext) -> None:
    for entry in ctx.encounter.get("location") or ():
        location = ctx.resolve(entry.get("location")) if isinstance(entry, dict) else None
        if location is not None and location.get("resourceType") == "Location":
            claim["facility"] = {"reference": key_of(location)}
            return


def _accident(claim: Resource, ctx: EncounterContext) -> None:
    start = (claim.get("billablePeriod") or {}).get("start")
    if claim.get("accident") or not isinstance(start, str):
        return
    codes = [
        str(c.get("code", "")).upper()
        for d in claim.get("diagnosis") or ()
        for c in (d.get("diagnosisCodeableConcept") or {}).get("coding") or ()
        if c.get("system") == ICD10CM
    ]
    accident: Resource = {"date": start[:10]}
    if any(c[:1] == "V" for c in codes):
        accident["type"] = {"coding": [{"system": ACT_CODE, "code": "MVA"}]}
        state = next((a.get("state") for a in (ctx.patient or {}).get("address") or () if a.get("state")), None)
        if state:
            accident["locationAddress"] = {"state": state}
    elif not any(c[:1] == "W" or (c[:1] == "X" and c[1:3] <= "58") for c in codes):
        return
    claim["accident"] = accident


def apply_claim_settings(
    claim: Resource, ctx: EncounterContext, *, profile: PayerProfile, provider: ProviderSettings | None
) -> Resource:
    """The claim with the payer's codes and the provider's settings applied (a new dict)."""
    out = dict(claim)  # copy on write: the lists and items changed below are new objects
    if "item" in claim:
        out["item"] = [dict(i) for i in claim["item"]]
    _payer_codes(out, profile)
    if profile.drug_waste_modifiers:
        _drug_waste(out)
    if provider is not None:
        _provider(out, provider)
    _supervisor(out, ctx)
    _facility(out, ctx)
    _accident(out, ctx)
    if ctx.encounter.get("status") in VOIDED:
        out["status"] = "cancelled"  # a void of what the payer holds (837P frequency 8), never an original
    return out


NPI = "http://hl7.org/fhir/sid/us-npi"


def billing_npi(claim: Resource, ctx: EncounterContext) -> str | None:
    org = ctx.resolve(claim.get("provider"))
    for ident in (org or {}).get("identifier") or ():
        if ident.get("system") == NPI and ident.get("value"):
            return str(ident["value"])
    return None
