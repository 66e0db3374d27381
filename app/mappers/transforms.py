"""The closed registry of named transforms a mapping field may apply to its FHIRPath result.

A field's value is always a list (FHIRPath semantics); each transform takes the list and returns a
list. Transforms are total: values they cannot use are dropped, never raised on, because bad EHR
data must become a finding, not an exception. :func:`check_step` validates a step at load time
(known name, argument of the right kind, known tables), so an unknown transform or table fails when
the config loads.

| name | argument | result |
|---|---|---|
| first / last | – | at most one value |
| distinct | – | duplicates (``==``, lists and dicts too) removed, order kept |
| count / exists | – | ``[n]`` / ``[bool]`` |
| not | – | booleans negated |
| any_of | list of values | ``[True]`` when any value is in the list, else ``[False]`` |
| starts_with | text | the strings that start with it |
| system | URI or list of URIs | Codings (CodeableConcepts expanded) of those systems |
| code | – | ``code`` of Codings / mapped codes; strings unchanged |
| reference | – | ``Type/id`` keys of References |
| text / upper / lower | – | strings |
| number / integer | – | finite Decimal / int values (NaN and infinities dropped) |
| date | – | ``YYYY-MM-DD`` from date and dateTime strings |
| money | currency (optional, USD) | ``{"value", "currency"}`` rounded to cents |
| join | separator | one string |
| default | any scalar | ``[value]`` when the list is empty |
| map_code | table name or list of names | a ``MappedCode`` per value (the first table that knows it) |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from app.domain.context import ref_of
from app.errors import FatalError
from app.mappers.tables import CodeTable, MappedCode

Tables = Mapping[str, CodeTable]
ArgKind = Literal["none", "text", "texts", "tables", "scalar", "optional_text"]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_CENT = Decimal("0.01")
_MAX_INTEGER_DIGITS = 4300


class TransformError(FatalError, ValueError):
    """A transform step that cannot be used (raised at load time only)."""


@dataclass(frozen=True)
class Step:
    name: str
    arg: Any = None


def _as_list(arg: Any) -> list[Any]:
    return list(arg) if isinstance(arg, list | tuple) else [arg]


def _codings(value: Any) -> list[Any]:
    if isinstance(value, dict) and "coding" in value:
        return list(value.get("coding") or ())
    return [value]


class _Unhashable:
    """The key of a value that cannot be hashed (a signalling NaN, a custom object): its type and
    ``repr``, so two such values are duplicates when they print the same."""

    __slots__ = ("text",)

    def __init__(self, value: Any) -> None:
        self.text = (type(value).__qualname__, repr(value))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Unhashable) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _key(value: Any) -> Any:
    """A hashable key equal for values that are ``==`` (dicts whatever their key order, lists item
    by item, nested); a dict and a list never share a key."""
    if isinstance(value, dict):
        return (dict, frozenset((k, _key(v)) for k, v in value.items()))
    if isinstance(value, list):
        return (list, tuple(_key(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return _Unhashable(value)
    return value


def t_distinct(values: list[Any], arg: Any, tables: Tables) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for value in values:
        key = _key(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def t_system(values: list[Any], arg: Any, tables: Tables) -> list[Any]:
    systems = set(_as_list(arg))
    return [c for v in values for c in _codings(v) if isinstance(c, dict) and c.get("system") in systems]


def t_code(values: list[Any], arg: Any, tables: Tables) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, MappedCode):
            out.append(value.code)
        elif isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            out.extend(c["code"] for c in _codings(value) if isinstance(c, dict) and c.get("code"))
    return out


def t_number(values: list[Any], arg: Any, tables: Tables) -> list[Any]:
    out = []
    for value in values:
        if isinstance(value, bool):
            continue
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError):
            continue
        if number.is_finite():  # "NaN", "sNaN", "Infinity" (and float nan/inf) are not numbers either
            out.append(number)
    return out


def t_integer(values: list[Any], arg: Any, tables: Tables) -> list[Any]:
    # ``int(Decimal("1e999999999"))`` would build a billion-digit int: past Python's own limit for
    # int <-> text (4,300 digits) a value is not an integer this mapping can use.
    return [
        int(v)
        for v in t_number(values, None, tables)
        if v.adjusted() < _MAX_INTEGER_DIGITS and v == v.to_integral_value()
    ]


def t_money(values: list[Any], arg: Any, tables: Tables) -> list[Any]:
    currency = arg or "USD"
    out = []
    for v in t_number(values, None, tables):
        try:  # more digits than the decimal context holds once in cents (1e30): not an amount
            out.append({"value": v.quantize(_CENT, rounding=ROUND_HALF_UP), "currency": currency})
        except InvalidOperation:
            continue
    return out


def t_map_code(values: list[Any], arg: Any, tables: Tables) -> list[Any]:
    out: list[Any] = []
    for value in values:
        for coding in _codings(value):
            hit = _map_one(coding, [tables[name] for name in _as_list(arg)])
            if hit is not None:
                out.append(hit)
    return out


def _map_one(coding: Any, chain: list[CodeTable]) -> MappedCode | None:
    system: str | None
    if isinstance(coding, MappedCode):
        system, code = coding.system, coding.code
    elif isinstance(coding, dict) and isinstance(coding.get("code"), str):
        system, code = coding.get("system"), coding["code"]
    elif isinstance(coding, str):
        system, code = None, coding
    else:
        return None
    for table in chain:
        hit = table.lookup(system, code)
        if hit is not None:
            return hit
    return None


def t_join(values: list[Any], arg: Any, tables: Tables) -> list[Any]:
    return [str(arg).join(str(v) for v in values)] if values else []


def t_any_of(values: list[Any], arg: Any, tables: Tables) -> list[Any]:
    wanted = _as_list(arg)
    return [any(v in wanted for v in values)]


@dataclass(frozen=True)
class TransformDef:
    fn: Callable[[list[Any], Any, Tables], list[Any]]
    arg: ArgKind


TRANSFORMS: dict[str, TransformDef] = {
    "first": TransformDef(lambda v, a, t: v[:1], "none"),
    "last": TransformDef(lambda v, a, t: v[-1:], "none"),
    "distinct": TransformDef(t_distinct, "none"),
    "count": TransformDef(lambda v, a, t: [len(v)], "none"),
    "exists": TransformDef(lambda v, a, t: [bool(v)], "none"),
    "not": TransformDef(lambda v, a, t: [not x for x in v if isinstance(x, bool)], "none"),
    "any_of": TransformDef(t_any_of, "texts"),
    "starts_with": TransformDef(lambda v, a, t: [x for x in v if isinstance(x, str) and x.startswith(a)], "text"),
    "system": TransformDef(t_system, "texts"),
    "code": TransformDef(t_code, "none"),
    "reference": TransformDef(lambda v, a, t: [k for k in (ref_of(x) for x in v) if k], "none"),
    "text": TransformDef(lambda v, a, t: [str(x) for x in v if not isinstance(x, dict | list)], "none"),
    "upper": TransformDef(lambda v, a, t: [x.upper() for x in v if isinstance(x, str)], "none"),
    "lower": TransformDef(lambda v, a, t: [x.lower() for x in v if isinstance(x, str)], "none"),
    "number": TransformDef(t_number, "none"),
    "integer": TransformDef(t_integer, "none"),
    "date": TransformDef(lambda v, a, t: [x[:10] for x in v if isinstance(x, str) and _DATE.match(x)], "none"),
    "money": TransformDef(t_money, "optional_text"),
    "join": TransformDef(t_join, "text"),
    "default": TransformDef(lambda v, a, t: v if v else [a], "scalar"),
    "map_code": TransformDef(t_map_code, "tables"),
}


def check_step(step: Step, table_names: set[str]) -> None:
    """Raise :class:`TransformError` unless ``step`` names a known transform with a usable argument."""
    spec = TRANSFORMS.get(step.name)
    if spec is None:
        raise TransformError(f"unknown transform {step.name!r} (known: {', '.join(sorted(TRANSFORMS))})")
    arg, kind = step.arg, spec.arg
    if kind == "none" and arg is not None:
        raise TransformError(f"transform {step.name!r} takes no argument")
    if kind == "text" and not isinstance(arg, str):
        raise TransformError(f"transform {step.name!r} needs a text argument")
    if kind == "optional_text" and arg is not None and not isinstance(arg, str):
        raise TransformError(f"transform {step.name!r} takes an optional text argument")
    if kind == "scalar" and (arg is None or isinstance(arg, dict | list)):
        raise TransformError(f"transform {step.name!r} needs a scalar argument")
    if kind in ("texts", "tables"):
        items = _as_list(arg)
        if not items or not all(isinstance(i, str) and i for i in items):
            raise TransformError(f"transform {step.name!r} needs a name or a list of names")
        unknown = [i for i in items if kind == "tables" and i not in table_names]
        if unknown:
            raise TransformError(f"transform {step.name!r}: unknown table {unknown[0]!r}")


def apply_steps(values: list[Any], steps: tuple[Step, ...], tables: Tables) -> list[Any]:
    for step in steps:
        values = TRANSFORMS[step.name].fn(values, step.arg, tables)
    return values


Compiled = Callable[[list[Any]], list[Any]]


def compile_step(step: Step, tables: Tables) -> Compiled:
    """``step`` bound to its argument and tables once: ``compile_step(s, t)(v) == apply_steps(v, (s,), t)``.

    ``map_code`` resolves its chain of tables here instead of for every value; ``first`` and
    ``date`` are inlined; every other transform calls its registered function.
    """
    name, arg = step.name, step.arg
    if name == "first":
        return lambda v: v[:1]
    if name == "date":
        match = _DATE.match
        return lambda v: [x[:10] for x in v if isinstance(x, str) and match(x)]
    if name == "map_code":
        chain = [tables[table] for table in _as_list(arg)]

        def map_code(values: list[Any]) -> list[Any]:
            out: list[Any] = []
            for value in values:
                for coding in _codings(value):
                    hit = _map_one(coding, chain)
                    if hit is not None:
                        out.append(hit)
            return out

        return map_code
    fn = TRANSFORMS[name].fn
    return lambda v: fn(v, arg, tables)


def compile_steps(steps: tuple[Step, ...], tables: Tables) -> tuple[Compiled, ...]:
    return tuple(compile_step(step, tables) for step in steps)
