"""Prior authorizations on file → ``Claim.insurance.preAuthRef`` (837P REF*G1). Pure.

An authorization is a ``ClaimResponse`` with ``use`` = ``preauthorization`` in the encounter context
(from the EHR, a PAS response, or a payer portal record) that:

- is about the claim's patient and, when both say so, from the claim's insurer;
- is usable: status ``active``, outcome not ``error``, with a ``preAuthRef``;
- covers the date of service (``preAuthPeriod``, open ends allowed);
- names at least one of the claim's billed codes in ``addItem``/``item`` (or names no codes at all).

Its number goes on the focal insurance. Whether it also covers the units billed is the rules'
business (``prior-auth.*``), which read the same ClaimResponses from History.
"""

from __future__ import annotations

from typing import Any

from app.domain.context import EncounterContext, ref_of

PREAUTH = "preauthorization"


def _codes(response: dict[str, Any]) -> set[str]:
    codes: set[str] = set()
    for element in ("addItem", "item"):
        for entry in response.get(element) or ():
            for coding in ((entry.get("productOrService") or {}).get("coding")) or ():
                if coding.get("code"):
                    codes.add(str(coding["code"]))
    return codes


def _covers(response: dict[str, Any], dos: str | None) -> bool:
    if not dos:
        return True
    period = response.get("preAuthPeriod") or {}
    start, end = str(period.get("start") or "")[:10], str(period.get("end") or "")[:10]
    return (not start or start <= dos) and (not end or dos <= end)


def authorization_numbers(
    ctx: EncounterContext, *, patient: str | None, insurer: str | None, dos: str | None, billed: set[str]
) -> list[str]:
    """Numbers of the authorizations on file that apply to this claim, in a stable order."""
    found: list[str] = []
    for response in ctx.of_type("ClaimResponse"):
        if response.get("use") != PREAUTH or response.get("status", "active") != "active":
            continue
        if response.get("outcome") == "error" or not response.get("preAuthRef"):
            continue
        if patient and ref_of(response.get("patient")) != patient:
            continue
        their_insurer = ref_of(response.get("insurer"))
        if insurer and their_insurer and their_insurer != insurer:
            continue
        codes = _codes(response)
        if (codes and not codes & billed) or not _covers(response, dos):
            continue
        number = str(response["preAuthRef"])
        if number not in found:
            found.append(number)
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
