"""Missing or inaccurate data on the lines: totals, units, charges, dates, place of service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.domain.findings import Category, Severity
from app.refdata.pos import POS_CODES
from app.rules.facts import ClaimFacts
from app.rules.registry import Hit, Params, register
from app.rules.values import number, obj

MD = Category.MISSING_DATA
ERR = Severity.ERROR


@register(
    "missing-data.total-mismatch", category=MD, severity=ERR, carc=("16",),
    summary="Claim.total equals the sum of the line charges (CLM02 = sum of SV102).",
    fix="Recompute Claim.total from the item net amounts.",
)  # fmt: skip
def check_total(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    total = number(f.claim.get("total"))
    lines_sum = sum([line.charge or 0.0 for line in f.lines])
    if total is None:
        yield Hit("Claim has no total.", "Claim.total", f.claim_key)
    elif round(total - lines_sum, 2) != 0:
        yield Hit(f"Claim total {total:.2f} differs from the line sum {lines_sum:.2f}.", "Claim.total", f.claim_key)


@register(
    "missing-data.line-units-invalid", category=MD, severity=ERR, carc=("16",),
    summary="Every line has a quantity greater than zero.",
    fix="Enter the units of service on the line.",
)  # fmt: skip
def check_units(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.lines:
        if line.units is None or line.units <= 0:
            yield Hit(f"Line {line.code or line.index + 1} has no positive quantity.", f"{line.path}.quantity",
                      f.claim_key)  # fmt: skip


@register(
    "missing-data.line-charge-invalid", category=MD, severity=ERR, carc=("16",),
    summary="Every line has a charge (net, or unit price x quantity) greater than zero.",
    fix="Price the line from the charge master.",
)  # fmt: skip
def check_charges(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.lines:
        if line.charge is None or line.charge <= 0:
            yield Hit(f"Line {line.code or line.index + 1} has no positive charge.", f"{line.path}.net",
                      f.claim_key)  # fmt: skip


@register(
    "missing-data.service-date-invalid", category=MD, severity=ERR, carc=("16",),
    summary="Every line has a service date, and none is in the future.",
    fix="Set the line's servicedDate to the date the service was performed.",
)  # fmt: skip
def check_service_dates(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.lines:
        if line.dos is None:
            yield Hit("Line has no service date.", f"{line.path}.servicedDate", f.claim_key)
        elif line.dos > f.today:
            yield Hit("Line service date is in the future.", f"{line.path}.servicedDate", f.claim_key)


@register(
    "missing-data.pos-invalid", category=MD, severity=ERR, carc=("5", "16", "58"),
    summary="Every line has a place of service from the CMS POS code set.",
    fix="Set the line's locationCodeableConcept to a valid CMS place-of-service code.",
)  # fmt: skip
def check_pos(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.lines:
        if line.pos not in POS_CODES:
            what = "no place of service" if line.pos is None else "an invalid place of service"
            yield Hit(f"Line has {what}.", f"{line.path}.locationCodeableConcept", f.claim_key)


_POS_SETS: dict[int, tuple[Params, dict[str, tuple[Any, Any]]]] = {}


def _pos_sets(p: Params, cls: str) -> tuple[Any, Any]:
    """``p["allowed"].get(cls)`` and ``p["forbidden"].get(cls)`` as sets, made once per rule parameters."""
    state = _POS_SETS.get(id(p))
    if state is None or state[0] is not p:
        if len(_POS_SETS) >= 64:
            _POS_SETS.clear()
        state = _POS_SETS[id(p)] = (p, {})
    found = state[1].get(cls)
    if found is None:
        found = state[1][cls] = (_as_set(p["allowed"].get(cls)), _as_set(p["forbidden"].get(cls)))
    return found


def _as_set(codes: Any) -> Any:
    """``codes`` as a frozenset when it is a list of strings (the configured shape), else as it is."""
    if codes.__class__ is list and all(c.__class__ is str for c in codes):
        return frozenset(codes)
    return codes


@register(
    "missing-data.pos-encounter-mismatch", category=MD, severity=ERR, carc=("5", "58"),
    summary="Place of service agrees with Encounter.class (virtual -> 02/10, inpatient -> 21, ...).",
    fix="Use the POS that matches the encounter (telehealth 02/10, office 11, inpatient 21, ER 23).",
    params={
        "allowed": {"VR": ["02", "10"], "IMP": ["21", "51", "61"], "EMER": ["23"], "HH": ["12", "13", "14"]},
        "forbidden": {"AMB": ["02", "10", "21", "23", "51", "61"]},
    },
)  # fmt: skip
def check_pos_vs_class(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    cls = obj(f.encounter.get("class")).get("code")
    if not isinstance(cls, str):
        return
    allowed, forbidden = _pos_sets(p, cls)
    for line in f.lines:
        if line.pos is None:
            continue
        if (allowed is not None and line.pos not in allowed) or (forbidden and line.pos in forbidden):
            yield Hit(f"Place of service {line.pos} does not fit a {cls} encounter.",
                      f"{line.path}.locationCodeableConcept", f.claim_key)  # fmt: skip
