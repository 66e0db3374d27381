"""Who is on a claim: billing, rendering and referring providers, and the payer's ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.domain.context import EncounterContext
from app.rules.codes import NPI, PAYER_ID
from app.rules.values import Resource, code_in, npi_of, ref_key

REFERRING_ROLES = frozenset({"referring", "DN"})


@dataclass(slots=True)
class Provider:  # not frozen (like Line): frozen construction is measurably slower on the hot path
    role: str  # billing | rendering | referring
    path: str  # FHIRPath of the reference in the Claim
    source: str | None  # Type/id of the resolved resource (or the literal reference)
    npi: str | None
    resource: Resource | None

    def at(self, element: str) -> str:
        """FHIRPath of ``element`` in the provider's resource (the Claim reference if unresolved)."""
        if self.resource is None:
            return self.path
        return f"{self.resource.get('resourceType')}.{element}"


def _logical_npi(reference: Any) -> str | None:
    ident = reference.get("identifier") if isinstance(reference, dict) else None
    if isinstance(ident, dict) and ident.get("system") == NPI and isinstance(ident.get("value"), str):
        return str(ident["value"])
    return None


def _provider(ctx: EncounterContext, reference: Any, role: str, path: str) -> Provider:
    resource = ctx.resolve(reference)
    npi = npi_of(resource)
    if npi is None and resource and resource.get("resourceType") == "PractitionerRole":
        npi = npi_of(ctx.resolve(resource.get("practitioner")))
    if npi is None:
        npi = _logical_npi(reference)
    source = ref_key(reference) if resource is None else f"{resource['resourceType']}/{resource.get('id')}"
    return Provider(role, path, source, npi, resource)


def billing_provider(ctx: EncounterContext, claim: Resource) -> Provider:
    return _provider(ctx, claim.get("provider"), "billing", "Claim.provider")


def _role(member: Resource) -> str:
    found = code_in(member.get("role"))
    return found[1] if found else ""


def rendering_providers(ctx: EncounterContext, claim: Resource) -> tuple[Provider, ...]:
    out = []
    for n, member in enumerate(claim.get("careTeam") or ()):
        if isinstance(member, dict) and _role(member) not in REFERRING_ROLES:
            out.append(_provider(ctx, member.get("provider"), "rendering", f"Claim.careTeam[{n}].provider"))
    return tuple(out)


def referring_providers(ctx: EncounterContext, claim: Resource) -> tuple[Provider, ...]:
    """Care-team members in a referring role, and the requester of ``Claim.referral``."""
    out = []
    for n, member in enumerate(claim.get("careTeam") or ()):
        if isinstance(member, dict) and _role(member) in REFERRING_ROLES:
            out.append(_provider(ctx, member.get("provider"), "referring", f"Claim.careTeam[{n}].provider"))
    referral = ctx.resolve(claim.get("referral"))
    if referral and referral.get("requester"):
        out.append(_provider(ctx, referral["requester"], "referring", "Claim.referral"))
    return tuple(out)


def payer_ids_of(ctx: EncounterContext, coverage: Resource | None, claim: Resource) -> tuple[str, ...]:
    """Identifier values of Coverage.payor's Organization (then of Claim.insurer), payer-id first."""
    refs = [*((coverage or {}).get("payor") or ()), claim.get("insurer")]
    first: list[str] = []
    rest: list[str] = []
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        org = ctx.resolve(ref)
        for ident in (org.get("identifier") or ()) if org else ():  # identifier_values, both lists in one pass
            if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                value = ident["value"].strip()
                if ident.get("system") == PAYER_ID:
                    first.append(value)
                rest.append(value)
        ident = ref.get("identifier")
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            (first if ident.get("system") == PAYER_ID else rest).append(ident["value"])
    return tuple(dict.fromkeys([*first, *rest]))
