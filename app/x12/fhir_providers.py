"""Rendering providers of a Claim for the 837P: the claim's (2310B) and a line's own (2420A). Pure.

The claim's is the first Practitioner of ``careTeam`` with role ``primary`` first; a line's is its
first ``careTeamSequence`` member when that member has the CARIN BB role ``performing`` (the mapper
puts a line's performer there when it is not the claim's rendering provider). Both need an NPI; the
NUCC taxonomy comes from the member's ``qualification``. Problems raise :class:`MissingPart`.
"""

from __future__ import annotations

from typing import Any

from app.domain.context import EncounterContext
from app.x12 import systems as sy
from app.x12.fhir_parts import MissingPart, coding_code, identifier_value, person_name
from app.x12.inputs import RenderingProvider

Resource = dict[str, Any]


def claim_rendering(claim: Resource, ctx: EncounterContext) -> RenderingProvider | None:
    team = sorted(claim.get("careTeam") or (), key=lambda c: c.get("sequence", 0))
    team.sort(key=lambda c: coding_code(c.get("role"), sy.CARE_TEAM_ROLE) != "primary")
    return next((found for member in team if (found := _provider(member, ctx)) is not None), None)


def _provider(member: Resource, ctx: EncounterContext) -> RenderingProvider | None:
    practitioner = ctx.resolve(member.get("provider"))
    if practitioner is None or practitioner.get("resourceType") != "Practitioner":
        return None
    where = f"Practitioner/{practitioner.get('id')}"
    npi = identifier_value(practitioner, sy.NPI)
    if not npi:
        raise MissingPart(f"{where}.identifier has no NPI ({sy.NPI})")
    taxonomy = coding_code(member.get("qualification"), sy.NUCC_TAXONOMY) or ""
    return RenderingProvider(npi=npi, name=person_name(practitioner, where), taxonomy=taxonomy)


def line_rendering(item: Resource, claim: Resource, ctx: EncounterContext) -> RenderingProvider | None:
    """2420A: the line's first care-team member when it is a ``performing`` Practitioner."""
    sequences = item.get("careTeamSequence") or ()
    member = next((m for m in claim.get("careTeam") or () if sequences and m.get("sequence") == sequences[0]), None)
    if member is None or coding_code(member.get("role"), sy.C4BB_CARE_TEAM_ROLE) != "performing":
        return None
    return _provider(member, ctx)
