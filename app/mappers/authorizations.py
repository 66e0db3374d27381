"""Prior authorizations on file → ``Claim.insurance.preAuthRef`` (837P REF*G1). Pure.

An authorization is a ``ClaimResponse`` with ``use`` = ``preauthorization`` in the encounter context
(from the EHR, a PAS response, or a payer portal record) that:

- is about the claim's patient and, when both say so, from the claim's insurer;
- grants something (:mod:`app.domain.preauth`): a Da Vinci PAS item whose review action is
  approved (A1), partially approved (A2) or modified (A6), with its number; or, for a plain R4
  response without review actions, status ``active``, outcome not ``error``, with a ``preAuthRef``.
  A denied (A3) or pended (A4) item never counts, whatever ``preAuthRef`` the response carries;
- covers the date of service (the item's ``itemPreAuthPeriod``, else ``preAuthPeriod``; open ends
  allowed);
- names at least one of the claim's billed codes (or names no codes at all).

Its number goes on the focal insurance. With more than one, each line also names the authorization
that covers its code and date (extension ``urn:claimbridge:line-prior-auth``: line-level REF*G1).
Whether it also covers the units billed is the rules'
business (``prior-auth.*``), which read the same ClaimResponses from History.
"""

from __future__ import annotations

from typing import Any

from app.domain.context import EncounterContext, ref_of
from app.domain.preauth import grants

PREAUTH = "preauthorization"
LINE_PRIOR_AUTH = "urn:claimbridge:line-prior-auth"


def authorization_numbers(
    ctx: EncounterContext,
    *,
    patient: str | None,
    insurer: str | None,
    dos: str | None,
    billed: set[str],
    named: bool = False,
) -> list[str]:
    """Numbers of the authorizations on file that apply to this claim, in a stable order
    (``named``: only those that name one of the ``billed`` codes)."""
    found: set[str] = set()
    for response in ctx.of_type("ClaimResponse"):
        if response.get("use") != PREAUTH or response.get("status", "active") != "active":
            continue
        if patient and ref_of(response.get("patient")) != patient:
            continue
        their_insurer = ref_of(response.get("insurer"))
        if insurer and their_insurer and their_insurer != insurer:
            continue
        for grant in grants(response, request=ctx.resolve(response.get("request"))):
            if (grant.codes & billed or not (grant.codes or named)) and grant.covers(dos) and grant.number:
                found.add(grant.number)
    return sorted(found)


def attach_authorizations(claim: dict[str, Any], ctx: EncounterContext) -> None:
    """Put the applicable authorization numbers on the focal insurance of ``claim`` (in place)."""
    focal = next((i for i in claim.get("insurance") or () if i.get("focal")), None)
    if focal is None:
        return
    billed = {
        str(c.get("code"))
        for item in claim.get("item") or ()
        for c in (item.get("productOrService") or {}).get("coding") or ()
        if c.get("code")
    }
    dos = str((claim.get("billablePeriod") or {}).get("start") or "")[:10] or None
    numbers = authorization_numbers(
        ctx, patient=ref_of(claim.get("patient")), insurer=ref_of(claim.get("insurer")), dos=dos, billed=billed
    )
    if numbers:
        focal["preAuthRef"] = numbers
    if len(numbers) > 1:
        _attach_to_lines(claim, ctx, dos)


def _attach_to_lines(claim: dict[str, Any], ctx: EncounterContext, dos: str | None) -> None:
    """With several authorizations on the claim, each line names the one that covers its code and date
    (extension ``urn:claimbridge:line-prior-auth``: the 837P's line-level REF*G1)."""
    patient, insurer = ref_of(claim.get("patient")), ref_of(claim.get("insurer"))
    for item in claim.get("item") or ():
        codes = {str(c.get("code")) for c in (item.get("productOrService") or {}).get("coding") or () if c.get("code")}
        served = str(item.get("servicedDate") or dos or "")[:10] or None
        named = authorization_numbers(ctx, patient=patient, insurer=insurer, dos=served, billed=codes, named=True)
        if named:
            item["extension"] = [*(item.get("extension") or ()), {"url": LINE_PRIOR_AUTH, "valueString": named[0]}]
