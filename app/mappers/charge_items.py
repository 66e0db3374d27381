"""Charge lines from ChargeItems and Procedures of the encounter (the FHIR-native charge sources).

- **ChargeItem** (``context`` = the Encounter): status ``billable`` is a line; ``billed`` is a line
  only on a replacement claim (otherwise an info finding: billed already, elsewhere); ``planned``,
  ``not-billable``, ``aborted``, ``entered-in-error`` are ignored; any other status is a
  ``charge-capture`` warning. ``quantity`` gives the units, ``performer.actor`` the line's rendering
  provider. A ``priceOverride`` (the line's total) or ``factorOverride`` with an ``overrideReason``
  is honoured (an info finding records it); without a reason the charge master price is billed and
  a warning says the override was not used.
- **Procedure** (``encounter``): status ``completed`` with a CPT/HCPCS code is a line; ``performer``
  and ``reasonReference`` (diagnosis pointers) as for orders; ``basedOn`` links it to its order.

An office E/M code on either is not a line here: it is an E/M carrier (:mod:`app.mappers.em`).
Duplicates across sources are merged in :mod:`app.mappers.dedupe`. Pure.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.domain.context import EncounterContext, key_of, ref_of
from app.domain.findings import Finding
from app.mappers.charges import Line, modifiers_of, unmapped
from app.mappers.issues import make_finding
from app.mappers.spec import MappingSet
from app.mappers.tables import MappedCode

IGNORED_STATUSES = frozenset({"planned", "not-billable", "aborted", "entered-in-error"})
OFFICE_EM = frozenset({"99202", "99203", "99204", "99205", "99211", "99212", "99213", "99214", "99215"})

Sources = tuple[list[Line], list[Finding], bool]


def is_office_em(line: Line) -> bool:
    return line.code.code in OFFICE_EM


def _refs(spec: MappingSet, name: str, resource: dict[str, Any], ctx: EncounterContext) -> tuple[str, ...]:
    out = []
    for ref in spec.values(name, resource):
        target = ctx.resolve(ref)
        key = key_of(target) if target is not None else ref_of(ref)
        if key:
            out.append(key)
    return tuple(out)


def _codes(spec: MappingSet, name: str, resource: dict[str, Any]) -> tuple[str, ...]:
    return tuple(c for c in spec.values(name, resource) if isinstance(c, str))


def _positive(value: Any) -> Decimal | None:
    return value if isinstance(value, Decimal) and value.is_finite() and value > 0 else None


def charge_item_lines(
    ctx: EncounterContext,
    spec: MappingSet,
    *,
    replacement: bool = False,
    billed_elsewhere: frozenset[str] = frozenset(),
) -> Sources:
    """Lines from the encounter's ChargeItems; also whether any billable one was seen.

    ``billed`` ones are lines only on a ``replacement``, and never those in ``billed_elsewhere`` (keys
    of ChargeItems already ``billed`` when an earlier version of the claim left them off)."""
    lines: list[Line] = []
    findings: list[Finding] = []
    seen = False
    for item in sorted(ctx.linked("ChargeItem"), key=key_of):
        status = spec.one("charge_item.status", item)
        if status in IGNORED_STATUSES:
            continue
        if status == "billed" and (not replacement or key_of(item) in billed_elsewhere):
            findings.append(_already_billed(item))
            continue
        if status not in ("billable", "billed"):
            findings.append(_odd_status(item, status))
            continue
        seen = True
        code = spec.one("charge_item.code", item)
        if not isinstance(code, MappedCode):
            findings.append(unmapped("charge-capture.unmapped-charge-item", item, "code"))
            continue
        quantity = _positive(spec.one("charge_item.quantity", item)) or Decimal(1)
        charge, factor = _overrides(spec, item, findings)
        lines.append(
            Line(
                code=code,
                quantity=quantity,
                source=key_of(item),
                location="ChargeItem.code",
                modifiers=modifiers_of(code, spec.values("charge_item.modifiers", item)),
                date=spec.one("charge_item.date", item),
                reason_codes=_codes(spec, "charge_item.reason_codes", item),
                performer=spec.one("charge_item.performer", item),
                links=_refs(spec, "charge_item.service", item, ctx),
                charge=charge,
                factor=factor,
            )
        )
    return lines, findings, seen


def _already_billed(item: dict[str, Any]) -> Finding:
    return make_finding(
        "charge-capture.charge-already-billed",
        message=f"{key_of(item)} is already billed (status billed); it goes only on a replacement claim",
        location="ChargeItem.status",
        source=key_of(item),
    )


def _odd_status(item: dict[str, Any], status: Any) -> Finding:
    return make_finding(
        "charge-capture.charge-item-status",
        message=f"{key_of(item)} has status {status or '(none)'}: not billed until it is billable",
        location="ChargeItem.status",
        source=key_of(item),
    )


def _overrides(spec: MappingSet, item: dict[str, Any], findings: list[Finding]) -> tuple[Decimal | None, Any]:
    """The honoured (price, factor) override of a ChargeItem; a finding either way."""
    price = _positive(spec.one("charge_item.price_override", item))
    factor = _positive(spec.one("charge_item.factor_override", item))
    if price is None and factor is None:
        return None, None
    reason = spec.one("charge_item.override_reason", item)
    what = f"price {price}" if price is not None else f"factor {factor}"
    if not isinstance(reason, str) or not reason.strip():
        findings.append(
            make_finding(
                "missing-data.price-override-reason",
                message=f"{key_of(item)} overrides the {what} without a reason; the charge-master price is billed",
                location="ChargeItem.overrideReason",
                source=key_of(item),
            )
        )
        return None, None
    findings.append(
        make_finding(
            "coding.price-override",
            message=f"{key_of(item)}: {what} billed instead of the charge-master price ({reason.strip()})",
            location="ChargeItem.priceOverride" if price is not None else "ChargeItem.factorOverride",
            source=key_of(item),
        )
    )
    return price, None if price is not None else factor


def procedure_lines(ctx: EncounterContext, spec: MappingSet) -> Sources:
    """Lines from the encounter's completed Procedures; also whether any completed one was seen."""
    lines: list[Line] = []
    findings: list[Finding] = []
    seen = False
    for procedure in sorted(ctx.linked("Procedure"), key=key_of):
        if not spec.flag("procedure.billable", procedure):
            continue
        seen = True
        code = spec.one("procedure.code", procedure)
        if not isinstance(code, MappedCode):
            findings.append(unmapped("charge-capture.unmapped-procedure", procedure, "code"))
            continue
        lines.append(
            Line(
                code=code,
                quantity=Decimal(1),
                source=key_of(procedure),
                location="Procedure.code",
                modifiers=modifiers_of(code, spec.values("procedure.modifiers", procedure)),
                date=spec.one("procedure.date", procedure),
                reason_refs=tuple(spec.values("procedure.reason_refs", procedure)),
                reason_codes=_codes(spec, "procedure.reason_codes", procedure),
                performer=spec.one("procedure.performer", procedure),
                links=_refs(spec, "procedure.based_on", procedure, ctx),
            )
        )
    return lines, findings, seen
