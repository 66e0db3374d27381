"""Assembles one R4 professional Claim (a plain dict) from an encounter context. Pure.

Line order: the billed E/M first, then completed orders, drugs given in the office, billable
ChargeItems and completed Procedures (each by resource id; one line per service, see
:mod:`app.mappers.lines`). A line whose performer differs from the claim's rendering provider
points at that performer first (care team role ``performing``).

Every line is priced from the charge master (the same for every payer), unless a ChargeItem
override with a reason is honoured: ``unitPrice`` per unit, ``net`` = unit price × quantity (an
overridden total is the net as given), ``Claim.total`` = Σ net. A line whose code has no price is
**left off the claim** and reported as a ``missing-data.no-charge-price`` error naming the code:
an unpriced line would make the total and the 837P line charge meaningless, and the error blocks
submission until the charge master is fixed, so nothing is lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.domain.chargemaster import ChargeMaster
from app.domain.context import EncounterContext, key_of
from app.domain.findings import Finding
from app.mappers.authorizations import attach_authorizations
from app.mappers.charges import Line
from app.mappers.diagnoses import Diagnoses, collect_diagnoses
from app.mappers.em import BilledEm, EmInputs, em_location, evaluate_em, patient_category, total_minutes
from app.mappers.header import Header, add_supporting_info, collect_header
from app.mappers.ids import CLAIM_ID_SYSTEM, claim_id
from app.mappers.issues import make_finding
from app.mappers.lines import collect_charges, line_price
from app.mappers.mdm import score_mdm
from app.mappers.parties import (
    REFERRING_ROLE,
    CareTeam,
    add_referring,
    collect_insurance,
    practitioner_key,
    same_clinician,
)
from app.mappers.referrals import Referral, find_referral
from app.mappers.spec import MappingSet
from app.mappers.tables import MappedCode, TableEntry

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"  # the registered URI (HL7 terminology)
NDC = "http://hl7.org/fhir/sid/ndc"
POS_SYSTEM = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
MAPPING_VERSION_TAG = "urn:claimbridge:mapping-version"
# Billing units discarded from the single-dose containers of a drug line (0: none): JZ/JW per payer.
DRUG_WASTE_URL = "http://claimbridge.example.org/fhir/StructureDefinition/single-dose-waste"
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class MappedClaim:
    claim: dict[str, Any]
    findings: list[Finding]
    em: dict[str, Any] | None
    payer_id: str | None
    mapping_version: str


@dataclass
class _Build:
    ctx: EncounterContext
    spec: MappingSet
    prices: ChargeMaster
    header: Header
    diagnoses: Diagnoses
    team: CareTeam
    referral: Referral | None = None
    findings: list[Finding] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    total: Decimal = Decimal(0)


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _money(value: Decimal, currency: str) -> dict[str, Any]:
    return {"value": float(value.quantize(_CENT, rounding=ROUND_HALF_UP)), "currency": currency}


def _modifier(code: str) -> dict[str, Any]:
    return {"coding": [{"system": CPT if code.isdigit() else HCPCS, "code": code}]}


def _em_line(build: _Build, billed: BilledEm) -> Line:
    """The E/M line (one unit); a ChargeItem/Procedure of that code gives performer, date, override."""
    telehealth = build.spec.flag("encounter.telehealth", build.ctx.encounter)
    modifier = build.spec.settings.telehealth_modifier
    charge = billed.line
    coded = build.spec.values("encounter.em_modifiers", build.ctx.encounter)
    modifiers = (
        *(charge.modifiers if charge else ()),
        *(m for m in coded if isinstance(m, str)),
        *((modifier,) if telehealth and modifier else ()),
    )
    return Line(
        code=MappedCode(CPT, billed.code, "em", CPT, billed.code, TableEntry(code=billed.code)),
        quantity=Decimal(1),
        source=billed.source,
        location=em_location(billed),
        modifiers=tuple(dict.fromkeys(modifiers))[:4],
        date=charge.date if charge else None,
        performer=charge.performer if charge else None,
        charge=charge.charge if charge else None,
        factor=charge.factor if charge else None,
    )


def _add_item(build: _Build, line: Line, pointers: list[int]) -> bool:
    priced = line_price(build.prices, line)
    if priced is None:
        build.findings.append(
            make_finding(
                "missing-data.no-charge-price",
                message=f"{line.code.code} ({line.source}) has no charge-master price; the line is left off",
                location=line.location,
                source=line.source,
            )
        )
        return False
    currency = build.prices.currency
    price, net = priced
    build.total += net
    care = _line_care(build, line)
    referring = add_referring(build.team, _requester(build, line)) if care else None
    item: dict[str, Any] = {"sequence": len(build.items) + 1}
    if care:
        item["careTeamSequence"] = list(dict.fromkeys([*care, *([referring] if referring else [])]))
    if pointers:
        item["diagnosisSequence"] = pointers
    item["productOrService"] = {"coding": [line.code.coding()]}
    if line.modifiers:
        item["modifier"] = [_modifier(m) for m in line.modifiers]
    served = line.date or build.header.start
    if served:
        item["servicedDate"] = served
    if build.header.place_of_service:
        item["locationCodeableConcept"] = {"coding": [{"system": POS_SYSTEM, "code": build.header.place_of_service}]}
    item["quantity"] = {"value": _number(line.quantity)}
    item["unitPrice"] = _money(price, currency)
    item["net"] = _money(net, currency)
    if line.code.entry.ndc:
        item["detail"] = [_ndc_detail(line)]
    if line.waste_units is not None:
        item["extension"] = [{"url": DRUG_WASTE_URL, "valueDecimal": _number(line.waste_units)}]
    item["encounter"] = [{"reference": build.ctx.key}]
    build.items.append(item)
    return True


_PRIMARY = ("http://terminology.hl7.org/CodeSystem/claimcareteamrole", "primary")


def _line_care(build: _Build, line: Line) -> list[int]:
    """The line's rendering provider first: its performer when that differs from the claim's."""
    performer = practitioner_key(build.ctx, line.performer)
    if performer and not same_clinician(build.ctx, performer, build.header.rendering):
        return [build.team.add(performer, system=REFERRING_ROLE, role="performing")]
    if build.header.rendering:
        return [build.team.add(build.header.rendering, system=_PRIMARY[0], role=_PRIMARY[1])]
    return []


def _requester(build: _Build, line: Line) -> str | None:
    return practitioner_key(build.ctx, line.requester)


def _ndc_detail(line: Line) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "sequence": 1,
        "productOrService": {"coding": [{"system": NDC, "code": line.code.entry.ndc}]},
    }
    if line.ndc_amount:
        detail["quantity"] = line.ndc_amount
    return detail


def _line_pointers(build: _Build, line: Line) -> list[int]:
    keys = [k for k in (key_of(c) for c in map(build.ctx.resolve, line.reason_refs) if c) if k]
    return build.diagnoses.pointers(keys, list(line.reason_codes))


def _em_result(build: _Build, billed: BilledEm, index: int | None) -> dict[str, Any]:
    ctx, spec = build.ctx, build.spec
    mdm = score_mdm(ctx, spec, conditions=build.diagnoses.conditions, billing_org=build.header.provider)
    inputs = EmInputs(
        billed=billed,
        mdm=mdm,
        minutes=total_minutes(ctx, spec, build.header.rendering),
        category=patient_category(ctx, spec, build.header.provider),
        location=f"Claim.item[{index}].productOrService" if index is not None else "Claim.item",
        encounter=ctx.key,
    )
    result, findings = evaluate_em(inputs)
    build.findings.extend(findings)
    return result


def map_encounter(
    ctx: EncounterContext,
    *,
    mappings: MappingSet,
    chargemaster: ChargeMaster,
    created: datetime,
    replacement: bool = False,
    billed_elsewhere: frozenset[str] = frozenset(),
) -> MappedClaim | None:
    """Map one encounter to a Claim; None when nothing at all is billable (see the package docs).

    ``replacement``: the claim replaces one the payer holds, so ChargeItems already ``billed`` are
    billed again on it (otherwise they are left off with an info finding), except those in
    ``billed_elsewhere``: ChargeItem keys an earlier version of the claim left off as already billed.
    """
    if created.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    charges = collect_charges(ctx, mappings, replacement=replacement, billed_elsewhere=billed_elsewhere)
    if not charges.seen:
        return None
    billed = charges.billed
    header, header_findings = collect_header(ctx, mappings)
    diagnoses, dx_findings = collect_diagnoses(ctx, mappings)
    add_supporting_info(header, mappings, diagnoses.conditions[0] if diagnoses.conditions else None)
    build = _Build(ctx, mappings, chargemaster, header, diagnoses, CareTeam())
    build.findings += [*header_findings, *dx_findings, *charges.em_findings]
    em_index = None
    if billed is not None:
        all_dx = list(range(1, min(len(diagnoses.codes), 4) + 1))
        em_index = 0 if _add_item(build, _em_line(build, billed), all_dx) else None
    for line in charges.lines:
        _add_item(build, line, _line_pointers(build, line))
    build.findings += charges.line_findings
    em = _em_result(build, billed, em_index) if billed is not None else None
    if not diagnoses.codes:
        build.findings.append(
            make_finding(
                "missing-data.no-diagnosis",
                message="the encounter has no ICD-10-CM diagnosis",
                location="Claim.diagnosis",
                source=ctx.key,
            )
        )
    _add_referral(build, find_referral(ctx, mappings))
    insurance = collect_insurance(ctx, mappings)
    build.findings += insurance.findings
    claim = _claim_dict(build, insurance.entries, insurance.insurer, insurance.payer_id, created)
    attach_authorizations(claim, ctx)
    return MappedClaim(claim, build.findings, em, insurance.payer_id, mappings.version)


def _add_referral(build: _Build, referral: Referral | None) -> None:
    """``Claim.referral``, the referral number as supportingInfo, the referring provider (claim level)."""
    if referral is None:
        return
    build.referral = referral
    build.findings += referral.findings
    info = referral.supporting_info(len(build.header.supporting_info) + 1)
    if info is not None:
        build.header.supporting_info.append(info)
    if referral.requester:
        add_referring(build.team, referral.requester)


def _claim_dict(
    build: _Build, insurance: list[dict[str, Any]], insurer: str | None, payer_id: str | None, created: datetime
) -> dict[str, Any]:
    header = build.header
    ident = claim_id(build.ctx.key, payer_id or "", ehr=build.ctx.ehr)
    claim: dict[str, Any] = {
        "resourceType": "Claim",
        "id": ident,
        "meta": {
            "profile": [build.spec.profile],
            "tag": [{"system": MAPPING_VERSION_TAG, "code": build.spec.version}],
        },
        "identifier": [{"system": CLAIM_ID_SYSTEM, "value": ident}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "claim",
        "patient": header.patient_reference,
    }
    if header.start:
        claim["billablePeriod"] = {"start": header.start, "end": header.end or header.start}
    claim["created"] = created.isoformat()
    if insurer:
        claim["insurer"] = {"reference": insurer}
    claim["provider"] = header.provider_reference
    claim["priority"] = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]
    }
    if build.referral is not None:
        claim["referral"] = {"reference": build.referral.reference}
    if build.team.members:
        claim["careTeam"] = build.team.to_claim()
    if header.supporting_info:
        claim["supportingInfo"] = header.supporting_info
    if build.diagnoses.codes:
        claim["diagnosis"] = build.diagnoses.to_claim()
    claim["insurance"] = insurance
    if build.items:
        claim["item"] = build.items
    claim["total"] = _money(build.total, build.prices.currency)
    return claim
