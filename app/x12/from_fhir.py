"""R4 Claim + EncounterContext → :class:`~app.x12.inputs.ClaimInput` (pure, no I/O).

Reads: ``Claim.identifier`` (system ``urn:claimbridge:patient-control-number``, else ``Claim.id``
when ≤ 20 characters) → CLM01; ``total``; ``diagnosis`` (ICD-10-CM, by ``sequence``); ``item``
(CPT/HCPCS ``productOrService``, ``modifier``, ``quantity``, ``net``, ``servicedDate``,
``locationCodeableConcept`` POS, ``diagnosisSequence``, NDC in ``detail.productOrService``);
``provider`` (Organization, or Practitioner for a sole proprietor: NPI, TIN, address);
``careTeam`` (rendering Practitioner, role ``primary`` first; NUCC taxonomy in ``qualification``;
a line whose first ``careTeamSequence`` is a ``performing`` member gets it as its 2420A);
``insurance`` (``focal`` → Coverage → payer Organization with ``urn:claimbridge:payer-id``;
``preAuthRef`` → REF*G1); ``related`` with relationship ``prior`` and ``reference.value`` → REF*F8,
frequency 7 (8 when ``Claim.status`` is ``cancelled``).

Claim filing indicator (SBR09): the ``filing_indicator`` argument (the payer profile's
``claim_filing_indicator``) wins; otherwise a ``Coverage.type`` coding in
``urn:claimbridge:x12:claim-filing-indicator`` (the SBR09 code itself), in PHDSC SOPT
(``https://nahdo.org/sopt``) or in HL7 v3 ActCode (HMO, PPO, POS, workers' comp, auto); otherwise the
``default_filing_indicator`` argument (the profile's ``payer_type``, :mod:`app.config.payer_types`).
Every missing piece is reported at once in one :class:`~app.x12.errors.X12BuildError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from app.domain.context import EncounterContext
from app.x12 import systems as sy
from app.x12.errors import X12BuildError
from app.x12.fhir_claim_parts import (
    accident,
    clia_number,
    info_value,
    participation,
    pay_to_address,
    physical_only,
    service_facility,
)
from app.x12.fhir_cob import other_payers
from app.x12.fhir_parts import (
    MissingPart,
    Resource,
    address,
    coding_code,
    decimal_of,
    first_code,
    identifier_value,
    ndc_11,
    organization_name,
    parse_date,
    person_name,
    sex_code,
)
from app.x12.fhir_providers import claim_referring, claim_rendering, claim_supervising, line_ordering, line_rendering
from app.x12.inputs import (
    BillingProvider,
    ClaimInput,
    DrugInput,
    Patient,
    Payer,
    ServiceLineInput,
    Subscriber,
)

T = TypeVar("T")

RELATIONSHIP_TO_X12 = {"spouse": "01", "child": "19", "common": "53", "parent": "G8", "other": "G8", "injured": "G8"}
SOPT_PREFIX_TO_FILING = (  # longest prefix first
    ("511", "HM"),
    ("512", "12"),
    ("513", "13"),
    ("11", "16"),
    ("1", "MB"),
    ("2", "MC"),
    ("311", "CH"),
    ("32", "VA"),
    ("6", "BL"),
    ("5", "CI"),
)
ACT_CODE_TO_FILING = {"HMO": "HM", "PPO": "12", "POS": "13", "WCBPOL": "WC", "AUTOPOL": "AM"}
DRUG_UNIT = {
    "mL": "ML",
    "ml": "ML",
    "ML": "ML",
    "g": "GR",
    "GR": "GR",
    "mg": "ME",
    "ME": "ME",
    "[iU]": "F2",
    "{package}": "UN",
    "F2": "F2",
    "UN": "UN",
}
PAYER_SEQUENCE = {1: "P", 2: "S", 3: "T"}


def _try(problems: list[str], build: Callable[[], T]) -> T | None:
    try:
        return build()
    except MissingPart as exc:
        problems.append(str(exc))
        return None


def _resolve(ctx: EncounterContext, reference: Any, where: str, *types: str) -> Resource:
    resource = ctx.resolve(reference)
    if resource is None or resource.get("resourceType") not in types:
        raise MissingPart(f"{where} does not resolve to a {' or '.join(types)}")
    return resource


def _patient_control_number(claim: Resource) -> str:
    value = identifier_value(claim, sy.PATIENT_CONTROL_NUMBER) or str(claim.get("id") or "")
    if not value or len(value) > 20:
        raise MissingPart(
            f"Claim.identifier ({sy.PATIENT_CONTROL_NUMBER}) is needed: Claim.id {value!r} is not 1-20 characters"
        )
    return value


def _billing_provider(claim: Resource, ctx: EncounterContext) -> BillingProvider:
    org = _resolve(ctx, claim.get("provider"), "Claim.provider", "Organization", "Practitioner")
    where = f"{org['resourceType']}/{org.get('id')}"
    npi = identifier_value(org, sy.NPI)
    tin = identifier_value(org, sy.TIN)
    if not npi or not tin:
        raise MissingPart(f"{where}.identifier needs an NPI ({sy.NPI}) and a TIN ({sy.TIN})")
    street = address(physical_only(org), where)
    person = person_name(org, where) if org["resourceType"] == "Practitioner" else None
    return BillingProvider(
        npi=npi,
        tin=tin.replace("-", ""),
        address=street,
        organization_name="" if person else organization_name(org, where),
        person=person,
        taxonomy=info_value(claim, "billing-taxonomy") or _org_taxonomy(org),
        pay_to_address=pay_to_address(org, where, street),
    )


def _org_taxonomy(org: Resource) -> str:
    """A NUCC taxonomy coded on the billing Organization's ``type`` (2000A PRV*BI), else ''."""
    return next((c for t in org.get("type") or () if (c := coding_code(t, sy.NUCC_TAXONOMY))), "")


def _filing_indicator(coverage: Resource) -> str | None:
    code = coding_code(coverage.get("type"), sy.CLAIM_FILING_INDICATOR)
    if code:
        return code
    sopt = coding_code(coverage.get("type"), sy.SOPT)
    if sopt:
        return next((x12 for prefix, x12 in SOPT_PREFIX_TO_FILING if sopt.startswith(prefix)), None)
    return ACT_CODE_TO_FILING.get(coding_code(coverage.get("type"), sy.ACT_CODE) or "")


def _focal_insurance(claim: Resource) -> Resource:
    insurance = claim.get("insurance") or []
    focal = next((i for i in insurance if i.get("focal")), insurance[0] if insurance else None)
    if focal is None:
        raise MissingPart("Claim.insurance is missing")
    return dict(focal)


def _person(resource: Resource, where: str) -> tuple[Any, Any, Any, Any]:
    return person_name(resource, where), resource.get("birthDate"), resource.get("gender"), resource


def _coverage_parts(
    claim: Resource, ctx: EncounterContext, patient: Resource, insurance: Resource | None = None
) -> dict[str, Any]:
    insurance = insurance if insurance is not None else _focal_insurance(claim)
    coverage = _resolve(ctx, insurance.get("coverage"), "Claim.insurance.coverage", "Coverage")
    cwhere = f"Coverage/{coverage.get('id')}"
    payer_org = _resolve(ctx, (coverage.get("payor") or [None])[0], f"{cwhere}.payor", "Organization")
    payer_id = identifier_value(payer_org, sy.PAYER_ID)
    if not payer_id:
        raise MissingPart(f"Organization/{payer_org.get('id')}.identifier has no payer id ({sy.PAYER_ID})")
    member_id = coverage.get("subscriberId") or identifier_value(coverage, sy.MBI)
    if not member_id:
        raise MissingPart(f"{cwhere}.subscriberId is missing")
    relationship = coding_code(coverage.get("relationship"), sy.SUBSCRIBER_RELATIONSHIP) or "self"
    holder = patient
    if relationship != "self":
        holder = _resolve(ctx, coverage.get("subscriber"), f"{cwhere}.subscriber", "Patient", "RelatedPerson")
    hwhere = f"{holder['resourceType']}/{holder.get('id')}"
    birth = holder.get("birthDate")
    subscriber = Subscriber(
        name=person_name(holder, hwhere),
        member_id=str(member_id),
        birth_date=parse_date(birth, f"{hwhere}.birthDate") if birth else None,
        sex=sex_code(holder.get("gender")),
        address=address(holder, hwhere) if holder.get("address") else None,
    )
    group = next(
        (
            c.get("value")
            for c in coverage.get("class") or ()
            if coding_code(c.get("type"), "http://terminology.hl7.org/CodeSystem/coverage-class") == "group"
        ),
        "",
    )
    return {
        "subscriber": subscriber,
        "relationship": relationship,
        "payer": Payer(name=organization_name(payer_org, f"Organization/{payer_org.get('id')}"), payer_id=payer_id),
        "filing_indicator": _filing_indicator(coverage),
        "payer_responsibility": PAYER_SEQUENCE.get(coverage.get("order") or 1, "P"),
        "group_number": str(group or ""),
        "prior_authorization": str((insurance.get("preAuthRef") or [""])[0]),
    }


def _patient(patient: Resource, relationship: str) -> Patient | None:
    if relationship == "self":
        return None
    where = f"Patient/{patient.get('id')}"
    return Patient(
        name=person_name(patient, where),
        birth_date=parse_date(patient.get("birthDate"), f"{where}.birthDate"),
        sex=sex_code(patient.get("gender")),
        address=address(patient, where),
        relationship=RELATIONSHIP_TO_X12.get(relationship, "G8"),
    )


def _diagnoses(claim: Resource) -> tuple[tuple[str, ...], dict[int, int]]:
    codes: list[str] = []
    pointer_of: dict[int, int] = {}
    for dx in sorted(claim.get("diagnosis") or (), key=lambda d: d.get("sequence", 0)):
        code = coding_code(dx.get("diagnosisCodeableConcept"), sy.ICD10CM)
        if not code:
            raise MissingPart(f"Claim.diagnosis[sequence={dx.get('sequence')}] has no ICD-10-CM code")
        codes.append(code.replace(".", "").upper())
        pointer_of[int(dx.get("sequence", len(codes)))] = len(codes)
    if not codes:
        raise MissingPart("Claim.diagnosis is empty")
    return tuple(codes), pointer_of


def _drug(item: Resource, where: str) -> DrugInput | None:
    for detail in item.get("detail") or ():
        ndc = coding_code(detail.get("productOrService"), sy.NDC)
        if ndc:
            quantity = detail.get("quantity") or item.get("quantity") or {}
            unit = DRUG_UNIT.get(str(quantity.get("code") or quantity.get("unit") or "UN"), "UN")
            return DrugInput(
                ndc=ndc_11(ndc), quantity=decimal_of(quantity.get("value", 1), f"{where}.detail.quantity"), unit=unit
            )
    return None


def _line(item: Resource, pointer_of: dict[int, int], claim_pos: str | None, claim_auth: str) -> ServiceLineInput:
    where = f"Claim.item[sequence={item.get('sequence')}]"
    code = coding_code(item.get("productOrService"), sy.PROCEDURE_SYSTEMS)
    if not code:
        raise MissingPart(f"{where}.productOrService has no CPT/HCPCS code")
    units = decimal_of((item.get("quantity") or {}).get("value", 1), f"{where}.quantity")
    net = item.get("net") or {}
    if "value" in net:
        charge = decimal_of(net["value"], f"{where}.net")
    else:
        charge = decimal_of((item.get("unitPrice") or {}).get("value"), f"{where}.unitPrice") * units
    served = item.get("servicedDate") or (item.get("servicedPeriod") or {}).get("start")
    pointers = []
    for seq in item.get("diagnosisSequence") or ():
        if seq not in pointer_of:
            raise MissingPart(f"{where}.diagnosisSequence {seq} names no Claim.diagnosis")
        pointers.append(pointer_of[seq])
    modifiers = tuple(c for m in item.get("modifier") or () if (c := first_code(m)))
    return ServiceLineInput(
        code=code,
        charge=charge,
        units=units,
        service_date=parse_date(served, f"{where}.servicedDate"),
        pointers=tuple(pointers),
        modifiers=modifiers,
        place_of_service=coding_code(item.get("locationCodeableConcept"), sy.POS) or claim_pos or "",
        drug=_drug(item, where),
        prior_authorization=_line_auth(item) or claim_auth,
    )


def _line_auth(item: Resource) -> str:
    """A line's own prior authorization number (extension ``urn:claimbridge:line-prior-auth``)."""
    for ext in item.get("extension") or ():
        if ext.get("url") == sy.LINE_PRIOR_AUTH and isinstance(ext.get("valueString"), str):
            return str(ext["valueString"])
    return ""


def _replacement(claim: Resource) -> tuple[str, str]:
    for related in claim.get("related") or ():
        if coding_code(related.get("relationship"), sy.RELATED_CLAIM_RELATIONSHIP) == "prior":
            icn = (related.get("reference") or {}).get("value")
            if icn:
                return ("8" if claim.get("status") == "cancelled" else "7"), str(icn)
    if claim.get("status") == "cancelled":
        raise MissingPart(
            "Claim.status is cancelled (a void) but no payer claim control number is known (Claim.related "
            "prior): the payer does not hold the claim, so there is nothing to void"
        )
    return "1", ""


def claim_input_from_fhir(
    claim: Resource,
    ctx: EncounterContext,
    *,
    filing_indicator: str | None = None,
    default_filing_indicator: str | None = None,
) -> ClaimInput:
    """Build the 837P input of an R4 Claim; :class:`X12BuildError` lists everything missing.

    SBR09: ``filing_indicator`` (configured) wins, then the focal Coverage's type, then
    ``default_filing_indicator`` (implied by the payer's type)."""
    problems: list[str] = []
    claim_id = _try(problems, lambda: _patient_control_number(claim))
    patient = _try(problems, lambda: _resolve(ctx, claim.get("patient"), "Claim.patient", "Patient"))
    billing = _try(problems, lambda: _billing_provider(claim, ctx))
    rendering = _try(problems, lambda: claim_rendering(claim, ctx))
    cov = _try(problems, lambda: _coverage_parts(claim, ctx, patient)) if patient is not None else None
    pat = _try(problems, lambda: _patient(patient, cov["relationship"])) if patient and cov else None
    dx = _try(problems, lambda: _diagnoses(claim))
    items = sorted(claim.get("item") or (), key=lambda i: i.get("sequence", 0))
    claim_pos = next((c for i in items if (c := coding_code(i.get("locationCodeableConcept"), sy.POS))), None)
    if not items:
        problems.append("Claim.item is empty")
    elif claim_pos is None:
        problems.append("Claim.item.locationCodeableConcept has no place of service code")
    claim_auth = cov["prior_authorization"] if cov else ""
    lines = [
        replace(
            ln,
            rendering_provider=_try(problems, partial(line_rendering, i, claim, ctx)),
            ordering_provider=_try(problems, partial(line_ordering, i, claim, ctx)),
        )
        for i in items
        if dx and (ln := _try(problems, partial(_line, i, dx[1], claim_pos, claim_auth)))
    ]
    referring = _try(problems, lambda: claim_referring(claim, ctx))
    supervising = _try(problems, lambda: claim_supervising(claim, ctx))
    facility = _try(problems, lambda: service_facility(claim, ctx, billing.address)) if billing else None
    causes, accident_state, accident_date = _try(problems, lambda: accident(claim)) or ((), "", None)
    others = (
        _try(
            problems,
            lambda: other_payers(claim, ctx, lines, coverage_parts=partial(_coverage_parts, claim, ctx, patient)),
        )
        if patient is not None
        else ()
    )
    indicator = filing_indicator or (cov["filing_indicator"] if cov else None) or default_filing_indicator
    if cov and not indicator:
        problems.append(
            "Coverage.type gives no claim filing indicator (SBR09) and the payer profile has neither "
            "claim_filing_indicator nor payer_type"
        )
    total_value = (claim.get("total") or {}).get("value")
    total = (
        _try(problems, lambda: decimal_of(total_value, "Claim.total"))
        if total_value is not None
        else sum((ln.charge for ln in lines), Decimal(0))
    )
    replaced = _try(problems, lambda: _replacement(claim)) or ("1", "")  # a void needs the payer's number
    if problems or not (claim_id and billing and cov and dx and claim_pos and indicator and total is not None):
        raise X12BuildError(claim_id or str(claim.get("id")), problems)
    frequency, icn = replaced
    billing_org = ctx.resolve(claim.get("provider"))
    return ClaimInput(
        claim_id=claim_id,
        total_charge=total,
        place_of_service=claim_pos,
        diagnoses=dx[0],
        lines=tuple(lines),
        billing_provider=billing,
        subscriber=cov["subscriber"],
        payer=cov["payer"],
        filing_indicator=indicator,
        payer_responsibility=cov["payer_responsibility"],
        group_number=cov["group_number"],
        patient=pat,
        frequency=frequency,
        prior_authorization=cov["prior_authorization"],
        payer_claim_control_number=icn,
        rendering_provider=rendering,
        referral_number=info_value(claim, "referral-number"),
        referring_provider=referring,
        supervising_provider=supervising,
        service_facility=facility,
        clia_number=clia_number(claim, billing_org),
        related_causes=causes,
        accident_state=accident_state,
        accident_date=accident_date,
        participation=participation(claim),
        other_payers=others or (),
    )
