"""Claim header facts of one encounter: patient, billing provider, rendering clinician, dates, POS.

Place of service: the CMS POS type of the encounter's first Location that has one wins; otherwise
``Encounter.class`` through the place-of-service table (AMB 11, VR 10 or 02 as configured, IMP 21,
EMER 23). A telehealth visit always takes its class's POS. Supporting information is added where an 837P needs it:
``hospitalized`` (admission period) for an inpatient stay and ``onset`` of the principal diagnosis
when the Condition records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.domain.context import EncounterContext, key_of, reference_key
from app.domain.findings import Finding
from app.mappers.issues import make_finding
from app.mappers.parties import absent_reference, reference_of_field, resolved_reference
from app.mappers.spec import MappingSet
from app.mappers.tables import MappedCode

INFO_CATEGORY = "http://terminology.hl7.org/CodeSystem/claiminformationcategory"


@dataclass
class Header:
    patient_reference: dict[str, Any]
    provider: str | None
    provider_reference: dict[str, Any]
    rendering: str | None
    start: str | None
    end: str | None
    place_of_service: str | None
    inpatient: bool = False
    supporting_info: list[dict[str, Any]] = field(default_factory=list)


def _place_of_service(ctx: EncounterContext, spec: MappingSet) -> str | None:
    """The Location's CMS POS wins (an AMB visit at a hospital outpatient site is 22, not 11); a
    telehealth visit keeps its class's POS (02/10: where the patient is, not the clinician's site)."""
    mapped = spec.one("encounter.place_of_service", ctx.encounter)
    if isinstance(mapped, MappedCode) and spec.flag("encounter.telehealth", ctx.encounter):
        return mapped.code
    for entry in ctx.encounter.get("location") or ():
        location = ctx.resolve(entry.get("location")) if isinstance(entry, dict) else None
        found = spec.one("location.place_of_service", location) if location else None
        if isinstance(found, MappedCode):
            return found.code
    return mapped.code if isinstance(mapped, MappedCode) else None


def _patient(ctx: EncounterContext, spec: MappingSet, findings: list[Finding]) -> dict[str, Any]:
    raw = spec.one("encounter.patient", ctx.encounter)
    patient = resolved_reference(ctx, raw, "Patient")
    if patient:
        return {"reference": patient}
    findings.append(
        make_finding(
            "missing-data.no-patient",
            message=f"the patient of {ctx.key} is not known" + (f" ({raw} not found)" if raw else ""),
            location="Encounter.subject",
            source=ctx.key,
        )
    )
    written = reference_key(str(raw)) if raw else None
    return {"reference": written} if written else absent_reference("Patient")


def collect_header(ctx: EncounterContext, spec: MappingSet) -> tuple[Header, list[Finding]]:
    enc = ctx.encounter
    findings: list[Finding] = []
    patient = _patient(ctx, spec, findings)
    provider = resolved_reference(ctx, spec.one("encounter.billing_provider", enc), "Organization")
    rendering = reference_of_field(ctx, spec, "encounter.rendering", enc)
    header = Header(
        patient_reference=patient,
        provider=provider,
        provider_reference={"reference": provider} if provider else absent_reference("Billing provider"),
        rendering=rendering,
        start=spec.one("encounter.start", enc),
        end=spec.one("encounter.end", enc),
        place_of_service=_place_of_service(ctx, spec),
        inpatient=spec.flag("encounter.inpatient", enc),
    )
    checks = (
        (provider, "missing-data.no-billing-provider", "Encounter.serviceProvider", "no billing Organization"),
        (rendering, "missing-data.no-rendering-provider", "Encounter.participant", "no rendering clinician"),
        (header.start, "missing-data.no-service-date", "Encounter.period.start", "no date of service"),
        (header.place_of_service, "missing-data.no-place-of-service", "Encounter.class", "no place of service"),
    )
    for value, rule, location, what in checks:
        if not value:
            findings.append(make_finding(rule, message=f"{ctx.key} has {what}", location=location, source=ctx.key))
    return header, findings


def add_supporting_info(header: Header, spec: MappingSet, principal: dict[str, Any] | None) -> None:
    """``hospitalized`` for an inpatient stay; ``onset`` of the principal diagnosis when known."""
    if header.inpatient and header.start:
        header.supporting_info.append(
            {
                "sequence": len(header.supporting_info) + 1,
                "category": {"coding": [{"system": INFO_CATEGORY, "code": "hospitalized"}]},
                "timingPeriod": {"start": header.start, "end": header.end or header.start},
            }
        )
    onset = spec.one("condition.onset", principal) if principal else None
    if principal is not None and isinstance(onset, str):
        header.supporting_info.append(
            {
                "sequence": len(header.supporting_info) + 1,
                "category": {"coding": [{"system": INFO_CATEGORY, "code": "onset"}]},
                "timingDate": onset,
                "valueReference": {"reference": key_of(principal)},
            }
        )
