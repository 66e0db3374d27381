"""Other payers of a Claim for the 837P's 2320/2330 loops (coordination of benefits). Pure.

Every non-focal ``Claim.insurance`` entry whose Coverage resolves becomes an
:class:`~app.x12.inputs.OtherPayer`: SBR01 from its ``Coverage.order`` (P, S, T), SBR09 from its
``Coverage.type`` (else ``ZZ``), its subscriber (2330A) and payer (2330B). When the entry carries
``claimResponse`` (a ClaimResponse in ``Claim.contained`` or in the context, as built from that
payer's 835 by :func:`app.x12.claim_response_from_835_claim`), its adjudication goes along:
``payment.amount`` → AMT*D, the claim-level adjustment reasons → CAS, the member liability total →
AMT*EAF, ``payment.date`` (else ``created``) → 2330B DTP*573, and each ``item`` (``itemSequence`` =
our line number) → a 2430 SVD/CAS for that line.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.domain.context import EncounterContext
from app.x12 import systems as sy
from app.x12.fhir_parts import MissingPart, coding_code, decimal_of, parse_date
from app.x12.inputs import LineAdjudication, OtherPayer, ServiceLineInput

Resource = dict[str, Any]
RELATIONSHIP_2320 = {"self": "18", "spouse": "01", "child": "19"}


def _response(claim: Resource, ctx: EncounterContext, reference: Any) -> Resource | None:
    raw = reference.get("reference") if isinstance(reference, dict) else None
    if isinstance(raw, str) and raw.startswith("#"):
        return next((r for r in claim.get("contained") or () if r.get("id") == raw[1:]), None)
    found = ctx.resolve(reference)
    return found if found is not None and found.get("resourceType") == "ClaimResponse" else None


def _adjustments(entries: Any) -> tuple[tuple[str, str, Decimal], ...]:
    out = []
    for entry in entries or ():
        if coding_code(entry.get("category"), sy.CARIN_DISCRIMINATOR) != "adjustmentreason":
            continue
        group = coding_code(entry.get("category"), sy.CLAIM_ADJUSTMENT_GROUP)
        reason = coding_code(entry.get("reason"), sy.CARC)
        amount = (entry.get("amount") or {}).get("value")
        if group and reason and amount is not None:
            out.append((group, reason, decimal_of(amount, "ClaimResponse.adjudication.amount")))
    return tuple(out)


def _benefit(entries: Any) -> Decimal | None:
    for entry in entries or ():
        if coding_code(entry.get("category"), sy.ADJUDICATION) == "benefit" and "amount" in entry:
            return decimal_of(entry["amount"].get("value"), "ClaimResponse.adjudication.amount")
    return None


def _lines(response: Resource, lines: list[ServiceLineInput]) -> tuple[LineAdjudication, ...]:
    out = []
    for item in response.get("item") or ():
        number = item.get("itemSequence")
        if not isinstance(number, int) or not 1 <= number <= len(lines):
            continue
        line = lines[number - 1]
        paid = _benefit(item.get("adjudication")) or Decimal(0)
        out.append(LineAdjudication(line.code, paid, line.units, _adjustments(item.get("adjudication")),
                                    line.modifiers))  # fmt: skip
    return tuple(out)


def _adjudication(response: Resource, lines: list[ServiceLineInput]) -> dict[str, Any]:
    payment = response.get("payment") or {}
    paid = payment.get("amount", {}).get("value")
    liability = next(
        (t["amount"].get("value") for t in response.get("total") or ()
         if coding_code(t.get("category"), sy.CARIN_ADJUDICATION) == "memberliability" and "amount" in t),
        None,
    )  # fmt: skip
    when = payment.get("date") or response.get("created")
    return {
        "paid": decimal_of(paid if paid is not None else 0, "ClaimResponse.payment.amount"),
        "adjustments": _adjustments(response.get("adjudication")),
        "patient_responsibility": decimal_of(liability, "ClaimResponse.total") if liability is not None else None,
        "adjudicated": parse_date(when, "ClaimResponse.payment.date"),
        "lines": _lines(response, lines),
    }


def other_payers(
    claim: Resource, ctx: EncounterContext, lines: list[ServiceLineInput], *, coverage_parts: Any
) -> tuple[OtherPayer, ...]:
    """The 2320 loops of ``claim``: one per non-focal insurance entry (``coverage_parts`` reads a Coverage)."""
    insurance = sorted(claim.get("insurance") or (), key=lambda i: i.get("sequence", 0))
    focal = next((i for i in insurance if i.get("focal")), insurance[0] if insurance else None)
    out = []
    for entry in insurance:
        if entry is focal or not entry.get("coverage"):
            continue
        parts = coverage_parts(entry)
        response = _response(claim, ctx, entry.get("claimResponse")) if entry.get("claimResponse") else None
        if entry.get("claimResponse") and response is None:
            raise MissingPart("Claim.insurance.claimResponse does not resolve to a ClaimResponse")
        out.append(
            OtherPayer(
                payer=parts["payer"],
                subscriber=parts["subscriber"],
                responsibility=parts["payer_responsibility"],
                filing_indicator=parts["filing_indicator"] or "ZZ",
                relationship=RELATIONSHIP_2320.get(parts["relationship"], "G8"),
                group_number=parts["group_number"],
                **(_adjudication(response, lines) if response is not None else {}),
            )
        )
    return tuple(out)
