"""Who is on the claim: patient, billing provider, care team, insurance and the payer.

Insurance lists the patient's billable Coverages in ``Coverage.order`` (then id) order; the first is
the one focal Coverage and its payor Organization is ``Claim.insurer`` and the payer id (any
identifier value of that Organization, ``urn:claimbridge:payer-id`` preferred by the mapping field).
A missing essential becomes a ``missing-data`` error and the required element a Reference carrying
only a ``display`` and a data-absent-reason extension, so the Claim stays valid R4 while the error
blocks submission.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.domain.context import EncounterContext, key_of, reference_key
from app.domain.findings import Finding
from app.mappers.issues import make_finding
from app.mappers.spec import MappingSet

DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
CARE_TEAM_ROLE = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
REFERRING_ROLE = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimCareTeamRole"


def absent_reference(what: str) -> dict[str, Any]:
    return {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}], "display": f"{what} unknown"}


def resolved_reference(ctx: EncounterContext, ref: Any, resource_type: str) -> str | None:
    """``Type/id`` of the resource ``ref`` points at when it is in the context and of that type."""
    target = ctx.resolve(ref) if ref else None
    if target is None or target.get("resourceType") != resource_type:
        return None
    return key_of(target)


def practitioner_key(ctx: EncounterContext, reference: Any) -> str | None:
    """``Type/id`` of the Practitioner or PractitionerRole ``reference`` points at, if in the context."""
    target = ctx.resolve(reference) if reference else None
    if target is None or target.get("resourceType") not in ("Practitioner", "PractitionerRole"):
        return None
    return key_of(target)


def same_clinician(ctx: EncounterContext, a: str | None, b: str | None) -> bool:
    """True when two Practitioner/PractitionerRole keys name one clinician (a role is its practitioner)."""

    def person(key: str | None) -> str | None:
        target = ctx.resolve(key) if key else None
        if target is not None and target.get("resourceType") == "PractitionerRole":
            return practitioner_key(ctx, target.get("practitioner")) or key
        return key

    return person(a) == person(b)


@dataclass
class CareTeam:
    members: list[tuple[str, str, str]] = field(default_factory=list)  # (reference, system, role)

    def add(self, reference: str, *, system: str, role: str) -> int:
        for i, (ref, _, _) in enumerate(self.members, start=1):
            if ref == reference:
                return i
        self.members.append((reference, system, role))
        return len(self.members)

    def to_claim(self) -> list[dict[str, Any]]:
        return [
            {"sequence": i, "provider": {"reference": ref}, "role": {"coding": [{"system": sys, "code": role}]}}
            for i, (ref, sys, role) in enumerate(self.members, start=1)
        ]


def add_referring(team: CareTeam, ref: str | None) -> int | None:
    """Care-team sequence of an ordering/referring practitioner (the rendering one keeps ``primary``)."""
    if not ref:
        return None
    return team.add(ref, system=REFERRING_ROLE, role="referring")


def reference_of_field(ctx: EncounterContext, spec: MappingSet, name: str, resource: dict[str, Any]) -> str | None:
    """A reference field's value as ``Type/id`` (resolved when possible, else as written)."""
    raw = spec.one(name, resource)
    if raw is None:
        return None
    target = ctx.resolve(raw)
    return key_of(target) if target is not None else reference_key(str(raw))


@dataclass
class Insurance:
    entries: list[dict[str, Any]] = field(default_factory=list)
    insurer: str | None = None
    payer_id: str | None = None
    findings: list[Finding] = field(default_factory=list)


def collect_insurance(ctx: EncounterContext, spec: MappingSet) -> Insurance:
    result = Insurance()
    coverages = [c for c in ctx.coverages() if spec.flag("coverage.active", c)]
    if not coverages:
        patient = reference_key(str(spec.one("encounter.patient", ctx.encounter) or "")) or ctx.key
        result.findings.append(
            make_finding(
                "missing-data.no-coverage",
                message="the patient has no active Coverage to bill",
                location="Claim.insurance",
                source=patient,
            )
        )
        result.entries = [{"sequence": 1, "focal": True, "coverage": absent_reference("Coverage")}]
        return result
    for i, coverage in enumerate(coverages, start=1):
        result.entries.append({"sequence": i, "focal": i == 1, "coverage": {"reference": key_of(coverage)}})
    _focal_payer(ctx, spec, coverages[0], result)
    return result


def _focal_payer(ctx: EncounterContext, spec: MappingSet, coverage: dict[str, Any], result: Insurance) -> None:
    cov_key = key_of(coverage)
    payers = [ctx.resolve(ref) for ref in spec.values("coverage.payor", coverage)]
    payer = next((p for p in payers if p is not None and p.get("resourceType") == "Organization"), None)
    if payer is None:
        result.findings.append(
            make_finding(
                "missing-data.no-payer",
                message=f"{cov_key} names no payer Organization that could be found",
                location="Coverage.payor",
                source=cov_key,
            )
        )
        return
    result.insurer = key_of(payer)
    payer_id = spec.one("payer.id", payer)
    if isinstance(payer_id, str) and payer_id:
        result.payer_id = payer_id
        return
    result.findings.append(
        make_finding(
            "missing-data.no-payer-id",
            message=f"payer {result.insurer} has no payer id",
            location="Organization.identifier",
            source=result.insurer,
        )
    )
