"""Claim lines (``Claim.item``) read into :class:`Line` records: the hottest code in the rules engine.

Written for speed over generality (one pass per item, exact-type checks instead of generic helpers);
tolerant of malformed input like the rest of :mod:`app.rules.facts`.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.rules.codes import EM_CODES, NDC, PROCEDURE_SYSTEMS
from app.rules.values import DATES, Resource, code_in, obj, parse_date, preferred_code, ref_key


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


_NUMBER = (int, float)
_INT_FLOAT: frozenset[Any] = frozenset({int, float})
_MEMO_LIMIT = 16384
_ONE_KEY: dict[str, tuple[str, ...]] = {}  # reference text -> (Type/id,) or ()
_UNREAD: Any = object()  # sentinel: not in the date memo


def _first_code(concept: Any) -> str | None:
    if concept.__class__ is dict:
        for coding in concept.get("coding") or ():
            code = coding.get("code") if coding.__class__ is dict else None
            if code and code.__class__ is str:
                return str(code).strip()
    return None


def _value(quantity: Any) -> float | None:
    """``Quantity.value`` / ``Money.value`` as float (inlined ``number`` for the line reader)."""
    value: Any = quantity.get("value") if quantity.__class__ is dict else None
    return float(value) if value.__class__ in _INT_FLOAT else _number(value)


def _number(value: Any) -> float | None:
    """A JSON number (not a boolean) as float, else None: the rare shapes :func:`_value` hands on."""
    return float(value) if isinstance(value, _NUMBER) and value.__class__ is not bool else None


def _modifiers(values: Any) -> tuple[str, ...]:
    if not values:
        return ()
    return tuple(c.upper() for c in (_first_code(v) for v in values) if c)


def _ndcs(details: Any) -> tuple[str, ...]:
    if not details:
        return ()
    found = (code_in(d.get("productOrService"), (NDC,)) for d in details if d.__class__ is dict)
    return tuple(f[1] for f in found if f)


def _encounter_keys(refs: Any) -> tuple[str, ...]:
    if not refs or refs.__class__ is not list:
        return ()
    if len(refs) == 1:  # the usual case: one reference, its key tuple memoized by the reference text
        ref = refs[0]
        raw = ref.get("reference") if ref.__class__ is dict else None
        if raw.__class__ is str:
            found = _ONE_KEY.get(raw)
            if found is None:
                if len(_ONE_KEY) >= _MEMO_LIMIT:
                    _ONE_KEY.clear()
                key = ref_key(raw)
                found = _ONE_KEY[raw] = (key,) if key else ()
            return found
        key = ref_key(ref)
        return (key,) if key else ()
    return tuple(k for k in (ref_key(e) for e in refs) if k)


def _procedure(concept: Any) -> tuple[str, str]:
    """``(system, CODE)`` of ``productOrService``: a CPT/HCPCS coding first, else the first coding."""
    codings = concept.get("coding") if concept.__class__ is dict else None
    if codings.__class__ is list and len(codings) == 1:  # the usual case: one coding
        coding = codings[0]
        if coding.__class__ is dict:
            code, system = coding.get("code"), coding.get("system")
            if code and code.__class__ is str and system.__class__ is str:
                return system, code.strip().upper()
    found = preferred_code(concept, PROCEDURE_SYSTEMS)
    return (found[0], found[1].upper()) if found else ("", "")


def read_line(item: Resource, index: int, default_dos: date | None, prefix: str = "Claim") -> Line:
    """One ``Claim.item`` as a :class:`Line`: the usual shape by subscripts, any other field by field."""
    return _read_usual(item, index, default_dos, prefix) or _read_any(item, index, default_dos, prefix)


def _read_usual(item: Resource, index: int, default_dos: date | None, prefix: str) -> Line | None:
    """The usual item (one coding with code and system, numeric quantity and net, a full
    servicedDate, one POS coding, one encounter reference) read by subscripts, without the
    generic helpers; None for any other shape. Gives exactly what :func:`_read_any` gives."""
    if item.__class__ is not dict:
        return None
    try:
        concept, location, served = item["productOrService"], item["locationCodeableConcept"], item["servicedDate"]
        quantity, money, refs = item["quantity"], item["net"], item["encounter"]
        if not (concept.__class__ is location.__class__ is quantity.__class__ is money.__class__ is dict):
            return None
        (coding,), (place,), (ref,) = concept["coding"], location["coding"], refs
        if not (coding.__class__ is place.__class__ is ref.__class__ is dict and refs.__class__ is list):
            return None
        raw, system, pos = coding["code"], coding["system"], place["code"]
        units, net = quantity["value"], money["value"]
        encounters = _ONE_KEY.get(ref["reference"])
    except (KeyError, TypeError, ValueError):  # a missing element, a list of another length, ...
        return None
    if not (raw and pos and raw.__class__ is system.__class__ is pos.__class__ is served.__class__ is str):
        return None
    if units.__class__ not in _INT_FLOAT or net.__class__ not in _INT_FLOAT:
        return None
    dos = DATES.get(served) or parse_date(served)
    if dos is None:
        return None
    code, net, get = raw.strip().upper(), float(net), item.get
    seq, modifiers, details = get("sequence"), get("modifier"), get("detail")
    pointers, team = get("diagnosisSequence"), get("careTeamSequence")
    return Line(
        index, f"{prefix}.item[{index}]", seq if seq.__class__ is int else None, system, code,
        _modifiers(modifiers) if modifiers else (), float(units), net, net, dos, pos.strip(),
        tuple(pointers) if pointers else (), tuple(team) if team else (), _ndcs(details) if details else (),
        code in EM_CODES, encounters if encounters is not None else _encounter_keys(refs),
    )  # fmt: skip


def _read_any(item: Resource, index: int, default_dos: date | None, prefix: str) -> Line:
    """Any item, field by field, tolerating every malformed shape (missing data becomes None/empty)."""
    get = item.get
    system, code = _procedure(get("productOrService"))
    quantity, money = get("quantity"), get("net")  # _value inlined for the usual dict shapes
    value: Any = quantity.get("value") if quantity.__class__ is dict else None
    units = float(value) if value.__class__ in _INT_FLOAT else _number(value)
    value = money.get("value") if money.__class__ is dict else None
    net = float(value) if value.__class__ in _INT_FLOAT else _number(value)
    if net is not None:
        charge: float | None = net
    else:
        price = _value(get("unitPrice"))
        charge = price * units if price is not None and units is not None else None
    served = get("servicedDate")
    dos = DATES.get(served) if served.__class__ is str else None  # parse_date's memo, read inline
    if dos is None:
        dos = parse_date(served) or parse_date(obj(get("servicedPeriod")).get("start")) or default_dos
    seq, modifiers, details = get("sequence"), get("modifier"), get("detail")
    pointers, team = get("diagnosisSequence"), get("careTeamSequence")
    return Line(
        index, f"{prefix}.item[{index}]", seq if seq.__class__ is int else None, system, code,
        _modifiers(modifiers) if modifiers else (), units, net, charge, dos,
        _first_code(get("locationCodeableConcept")), tuple(pointers) if pointers else (),
        tuple(team) if team else (), _ndcs(details) if details else (), code in EM_CODES,
        _encounter_keys(get("encounter")),
    )  # fmt: skip


def items_coded(claim: Resource, wanted: Container[str]) -> list[tuple[int, Resource]]:
    """``(index, item)`` of ``claim``'s object items whose procedure code (as :func:`read_lines` reads it)
    is in ``wanted``, without parsing the rest of any item; the index is the one read_lines gives."""
    out: list[tuple[int, Resource]] = []
    i = -1
    for item in claim.get("item") or ():
        if item.__class__ is not dict and not isinstance(item, dict):
            continue
        i += 1
        concept = item.get("productOrService")
        codings = concept.get("coding") if concept.__class__ is dict else None
        if codings.__class__ is list and len(codings) == 1:  # the usual shape, _procedure inlined: it
            coding = codings[0]  # reads one dict coding's non-empty code so, whatever the system
            raw = coding.get("code") if coding.__class__ is dict else None
            code = raw.strip().upper() if raw and raw.__class__ is str else _procedure(concept)[1]
        else:
            code = _procedure(concept)[1]
        if code in wanted:
            out.append((i, item))
    return out


def items_on(claim: Resource, dates: Container[date]) -> list[tuple[int, Resource]]:
    """``(index, item)`` of ``claim``'s object items that may be on one of ``dates``: those whose
    ``servicedDate`` is one of them and those where it is no date (their line takes another date, so
    they must be parsed to tell); the index is the one :func:`read_lines` gives."""
    out: list[tuple[int, Resource]] = []
    i, memo, unread = -1, DATES, _UNREAD
    for item in claim.get("item") or ():
        if item.__class__ is not dict and not isinstance(item, dict):
            continue
        i += 1
        served = item.get("servicedDate")
        dos = memo.get(served, unread) if served.__class__ is str else unread  # parse_date's memo, inline
        if dos is unread:
            dos = parse_date(served)
        if dos is None or dos in dates:
            out.append((i, item))
    return out


def default_dos(claim: Resource) -> date | None:
    """The date a line without a usable date of its own takes: ``billablePeriod.start``."""
    return parse_date(obj(claim.get("billablePeriod")).get("start"))


def read_lines(claim: Resource, prefix: str = "Claim") -> tuple[Line, ...]:
    default = default_dos(claim)
    items = [i for i in claim.get("item") or () if isinstance(i, dict)]
    usual, other = _read_usual, _read_any  # read_line, inlined
    return tuple([usual(i, n, default, prefix) or other(i, n, default, prefix) for n, i in enumerate(items)])
