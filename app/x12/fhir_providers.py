"""Providers of a Claim for the 837P: rendering (2310B, 2420A), referring (2310A), supervising (2310D),
ordering (2420E). Pure.

The claim's rendering provider is the first Practitioner of ``careTeam`` with role ``primary`` first;
a line's is its first ``careTeamSequence`` member when that member has the CARIN BB role
``performing`` (the mapper puts a line's performer there when it is not the claim's rendering
provider). A line's later ``careTeamSequence`` members with the CARIN BB role ``referring`` are the
ones who ordered it (2420E). The claim's referring provider (2310A) is the requester of
``Claim.referral`` (else a ``referring`` member no line names); the supervising provider (2310D) is
the member with role ``supervisor``. A member may be a Practitioner or a PractitionerRole (its
practitioner gives the NPI and name). Every one needs an NPI. The NUCC taxonomy (PRV*PE) is the
member's ``qualification``, else the PractitionerRole's ``specialty``, else the taxonomy of the
PractitionerRole of that Practitioner found in the context. Problems raise :class:`MissingPart`.
"""

from __future__ import annotations

from typing import Any

from app.domain.context import EncounterContext, ref_of
from app.x12 import systems as sy
from app.x12.fhir_parts import MissingPart, coding_code, identifier_value, person_name
from app.x12.inputs import RenderingProvider

Resource = dict[str, Any]


def claim_rendering(claim: Resource, ctx: EncounterContext) -> RenderingProvider | None:
    team = sorted(claim.get("careTeam") or (), key=lambda c: c.get("sequence", 0))
    team.sort(key=lambda c: coding_code(c.get("role"), sy.CARE_TEAM_ROLE) != "primary")
    team = [m for m in team if _role(m) not in ("referring", "supervisor")]
    return next((found for member in team if (found := _provider(member, ctx)) is not None), None)


def _role(member: Resource) -> str | None:
    return coding_code(member.get("role"), sy.CARE_TEAM_ROLE) or coding_code(member.get("role"), sy.C4BB_CARE_TEAM_ROLE)


def _taxonomy(role: Resource | None) -> str:
    if role is None:
        return ""
    return next((c for s in role.get("specialty") or () if (c := coding_code(s, sy.NUCC_TAXONOMY))), "")


def _role_of(ctx: EncounterContext, practitioner_key: str) -> Resource | None:
    """The PractitionerRole of a Practitioner in the context that carries a NUCC taxonomy, if any."""
    for role in ctx.of_type("PractitionerRole"):
        if ref_of(role.get("practitioner")) == practitioner_key and _taxonomy(role):
            return role
    return None


def person_provider(ctx: EncounterContext, reference: Any, qualification: Any = None) -> RenderingProvider | None:
    """A Practitioner (or a PractitionerRole's practitioner) as an 837P person with an NPI."""
    target = ctx.resolve(reference)
    role = None
    if target is not None and target.get("resourceType") == "PractitionerRole":
        role, target = target, ctx.resolve(target.get("practitioner"))
    if target is None or target.get("resourceType") != "Practitioner":
        return None
    where = f"Practitioner/{target.get('id')}"
    npi = identifier_value(target, sy.NPI)
    if not npi:
        raise MissingPart(f"{where}.identifier has no NPI ({sy.NPI})")
    taxonomy = (
        coding_code(qualification, sy.NUCC_TAXONOMY)
        or _taxonomy(role)
        or _taxonomy(_role_of(ctx, f"Practitioner/{target.get('id')}"))
    )
    return RenderingProvider(npi=npi, name=person_name(target, where), taxonomy=taxonomy or "")


def _provider(member: Resource, ctx: EncounterContext) -> RenderingProvider | None:
    return person_provider(ctx, member.get("provider"), member.get("qualification"))


def line_rendering(item: Resource, claim: Resource, ctx: EncounterContext) -> RenderingProvider | None:
    """2420A: the line's first care-team member when it is a ``performing`` Practitioner."""
    sequences = item.get("careTeamSequence") or ()
    member = next((m for m in claim.get("careTeam") or () if sequences and m.get("sequence") == sequences[0]), None)
    if member is None or coding_code(member.get("role"), sy.C4BB_CARE_TEAM_ROLE) != "performing":
        return None
    return _provider(member, ctx)


def line_ordering(item: Resource, claim: Resource, ctx: EncounterContext) -> RenderingProvider | None:
    """2420E: a later ``careTeamSequence`` member of the line with the role ``referring`` (who ordered it)."""
    by_sequence = {m.get("sequence"): m for m in claim.get("careTeam") or ()}
    for sequence in (item.get("careTeamSequence") or ())[1:]:
        member = by_sequence.get(sequence)
        if member is not None and _role(member) == "referring":
            return _provider(member, ctx)
    return None


def claim_referring(claim: Resource, ctx: EncounterContext) -> RenderingProvider | None:
    """2310A: the requester of ``Claim.referral``, else a ``referring`` member no line names."""
    if not claim.get("referral"):
        return None
    referral = ctx.resolve(claim["referral"])
    if referral is not None and referral.get("requester"):
        found = person_provider(ctx, referral["requester"])
        if found is not None:
            return found
    on_lines = {s for item in claim.get("item") or () for s in item.get("careTeamSequence") or ()}
    for member in claim.get("careTeam") or ():
        if _role(member) == "referring" and member.get("sequence") not in on_lines:
            return _provider(member, ctx)
    return None


def claim_supervising(claim: Resource, ctx: EncounterContext) -> RenderingProvider | None:
    """2310D: the care-team member with the role ``supervisor``."""
    member = next((m for m in claim.get("careTeam") or () if _role(m) == "supervisor"), None)
    return _provider(member, ctx) if member is not None else None
