"""Claim lines (``Claim.item``) read into :class:`Line` records: the hottest code in the rules engine.

Written for speed over generality (one pass per item, exact-type checks instead of generic helpers);
tolerant of malformed input like the rest of :mod:`app.rules.facts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from app.domain.context import ref_of
from app.rules.codes import EM_CODES, NDC, PROCEDURE_SYSTEMS
from app.rules.values import Resource, code_in, obj, parse_date, preferred_code


@dataclass(slots=True)
class Line:  # not frozen: frozen dataclass construction is measurably slower on the hot path
    index: int
    path: str  # FHIRPath of the item, e.g. Claim.item[0]
    sequence: int | None
    system: str
    code: str
    modifiers: tuple[str, ...]
    units: float | None
    net: float | None
    charge: float | None  # net, else unitPrice x quantity
    dos: date | None
    pos: str | None
    dx_pointers: tuple[Any, ...]
    care_team: tuple[Any, ...]
    ndcs: tuple[str, ...]
    is_em: bool
    encounters: tuple[str, ...]


def _first_code(concept: Any) -> str | None:
    if concept.__class__ is dict:
        for coding in concept.get("coding") or ():
            code = coding.get("code") if coding.__class__ is dict else None
            if code and code.__class__ is str:
                return str(code).strip()
    return None


def _value(quantity: Any) -> float | None:
    """``Quantity.value`` / ``Money.value`` as float (inlined ``number`` for the line reader)."""
    value = quantity.get("value") if quantity.__class__ is dict else None
    return float(value) if isinstance(value, int | float) and value.__class__ is not bool else None


def _modifiers(values: Any) -> tuple[str, ...]:
    if not values:
        return ()
    return tuple(c.upper() for c in (_first_code(v) for v in values) if c)


def _ndcs(details: Any) -> tuple[str, ...]:
    if not details:
        return ()
    found = (code_in(d.get("productOrService"), (NDC,)) for d in details if d.__class__ is dict)
    return tuple(f[1] for f in found if f)


def _encounter_key(ref: Any) -> str | None:
    raw = ref.get("reference") if ref.__class__ is dict else None
    if raw.__class__ is str and raw.startswith("Encounter/") and raw.count("/") == 1:
        return str(raw)  # the common relative reference: already a Type/id key
    return ref_of(ref)


def _encounter_keys(refs: Any) -> tuple[str, ...]:
    if not refs or refs.__class__ is not list:
        return ()
    if len(refs) == 1:  # the usual case
        key = _encounter_key(refs[0])
        return (key,) if key else ()
    return tuple(k for k in (_encounter_key(e) for e in refs) if k)


def read_line(item: Resource, index: int, default_dos: date | None, prefix: str = "Claim") -> Line:
    """One ``Claim.item`` as a :class:`Line` (hot path: one pass, no generic helpers per field)."""
    get = item.get
    found = preferred_code(get("productOrService"), PROCEDURE_SYSTEMS)
    system, code = (found[0], found[1].upper()) if found else ("", "")
    units, net = _value(get("quantity")), _value(get("net"))
    if net is not None:
        charge: float | None = net
    else:
        price = _value(get("unitPrice"))
        charge = price * units if price is not None and units is not None else None
    dos = parse_date(get("servicedDate"))
    if dos is None:
        dos = parse_date(obj(get("servicedPeriod")).get("start")) or default_dos
    seq = get("sequence")
    return Line(
        index, f"{prefix}.item[{index}]", seq if seq.__class__ is int else None, system, code,
        _modifiers(get("modifier")), units, net, charge, dos, _first_code(get("locationCodeableConcept")),
        tuple(get("diagnosisSequence") or ()), tuple(get("careTeamSequence") or ()), _ndcs(get("detail")),
        code in EM_CODES, _encounter_keys(get("encounter")),
    )  # fmt: skip


def read_lines(claim: Resource, prefix: str = "Claim") -> tuple[Line, ...]:
    period = obj(claim.get("billablePeriod"))
    default = parse_date(period.get("start"))
    items = [i for i in claim.get("item") or () if isinstance(i, dict)]
    return tuple(read_line(item, n, default, prefix) for n, item in enumerate(items))
