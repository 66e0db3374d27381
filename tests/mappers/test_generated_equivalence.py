"""Review of the generated mapping functions: exact equivalence with a fully step-by-step reference.

The reference below is independent of the generated code: the walked sources run on
:func:`~app.mappers.fhirpath.compile_stepwise` (``walk_path`` / ``walk_union``), the others on the
expression fhirpathpy compiled, and the transforms through :func:`apply_steps`. It is compared with
``values``, ``one`` and ``flag`` for every shipped field on every resource found anywhere in the
JSON under ```examples/`` and ``tests/fixtures`` (bundles, contained resources, hook requests), on random
resources filling the shipped paths (no example holds a ChargeItem or a Procedure), and on
hand-made edge shapes.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from app.mappers import MappingSet
from app.mappers.fhirpath import (
    PLAIN_PATH,
    CompiledPath,
    compile_expression,
    compile_stepwise,
    parse_steps,
    split_union,
)
from app.mappers.spec import FieldRule
from app.mappers.tables import CodeTable, TableEntry
from app.mappers.transforms import Step, apply_steps

ROOT = Path(__file__).resolve().parents[2]


def _resources_in(data: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(data, dict):
        if isinstance(data.get("resourceType"), str):
            out.append(data)
        for value in data.values():
            _resources_in(value, out)
    elif isinstance(data, list):
        for value in data:
            _resources_in(value, out)


@cache
def every_resource() -> tuple[dict[str, Any], ...]:
    found: list[dict[str, Any]] = []
    for folder in (ROOT / "examples", ROOT / "tests" / "fixtures"):
        for path in sorted(folder.rglob("*.json")):
            _resources_in(json.loads(path.read_text()), found)
    unique: dict[str, dict[str, Any]] = {}
    for resource in found:
        unique.setdefault(json.dumps(resource, sort_keys=True, default=str), resource)
    return tuple(unique.values())


def _codings_of(data: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(data, dict):
        if isinstance(data.get("code"), str) and "system" in data:
            out.append({"system": data["system"], "code": data["code"]})
        for value in data.values():
            _codings_of(value, out)
    elif isinstance(data, list):
        for value in data:
            _codings_of(value, out)


def _leaf(rng: random.Random, codings: list[dict[str, Any]]) -> Any:
    pool = ["completed", "billable", "2026-11-20T10:00:00Z", "2026-11-20", "", "RT", 2, 2.5, True, False, None]
    roll = rng.random()
    if roll < 0.3:
        return dict(rng.choice(codings))
    if roll < 0.4:
        return {"coding": [dict(rng.choice(codings)) for _ in range(rng.randint(0, 2))]}
    if roll < 0.5:
        return {"reference": f"Practitioner/{rng.randint(1, 3)}", "value": rng.choice([1, 1.5, "3"])}
    return rng.choice(pool)


def _fill(rng: random.Random, steps: tuple[Any, ...], codings: list[dict[str, Any]]) -> Any:
    """A value on which ``steps`` (from an element) finds something, or nearly: lists, single values,
    where-conditions met or not, nulls."""
    if not steps:
        return _leaf(rng, codings)
    step, rest = steps[0], steps[1:]
    if isinstance(step, str):
        element = {step: _fill(rng, rest, codings)}
    else:
        inner, literal = step
        element = _fill(rng, rest, codings)
        element = element if isinstance(element, dict) else {"value": element}
        hit = _fill(rng, tuple(inner[1:]), codings) if rng.random() < 0.3 else literal
        element = {**element, inner[0]: hit if len(inner) == 1 or rng.random() < 0.3 else {inner[1]: literal}}
    if rng.random() < 0.4:
        return [element, _fill(rng, steps, codings) if rng.random() < 0.5 else None]
    return element


def generated_resources(mappings: MappingSet) -> tuple[dict[str, Any], ...]:
    """Random resources of every type a field is read on, each filling several of that type's
    walked paths (ChargeItem and Procedure: no example holds one)."""
    codings: list[dict[str, Any]] = []
    _codings_of(list(every_resource()), codings)
    paths: dict[str, list[tuple[Any, ...]]] = {}
    for rule in mappings.fields.values():
        for source in rule.sources:
            for operand in split_union(source.expression) or [source.expression]:
                if PLAIN_PATH.match(operand):
                    head, steps = parse_steps(operand)
                    paths.setdefault(head, []).append(steps)
    rng = random.Random(11)
    out: list[dict[str, Any]] = []
    for head, options in sorted(paths.items()):
        for _ in range(150):
            resource: dict[str, Any] = {"resourceType": head}
            for steps in rng.sample(options, min(len(options), rng.randint(1, 6))):
                filled = _fill(rng, steps, codings)
                for key, value in filled.items() if isinstance(filled, dict) else [("x", filled)]:
                    resource.setdefault(key, value)
            out.append(resource)
    return tuple(out)


def reference(mappings: MappingSet, name: str, resource: dict[str, Any] | None) -> list[Any]:
    """``values`` without any generated code."""
    rule = mappings.fields[name]
    if resource is None or resource.get("resourceType") != rule.on:
        return []
    for source in rule.sources:
        run: CompiledPath = compile_stepwise(source.expression) if source.walked else source
        found = run(resource)
        if found:
            return apply_steps(found, rule.steps, mappings.tables)
    return apply_steps([], rule.steps, mappings.tables)


def typed(values: list[Any]) -> list[tuple[type, Any]]:
    return [(type(v), v) for v in values]  # 1 == True == Decimal(1): the types must agree too


def test_every_resource_of_the_examples_and_fixtures_is_read() -> None:
    kinds = {r["resourceType"] for r in every_resource()}
    assert len(every_resource()) > 1000
    assert {"Encounter", "Condition", "ServiceRequest", "MedicationRequest", "Coverage"} <= kinds


def test_every_shipped_field_equals_the_stepwise_reference_on_every_resource(mappings: MappingSet) -> None:
    compared = 0
    for resource in every_resource() + generated_resources(mappings):
        for name, rule in mappings.fields.items():
            want = reference(mappings, name, resource)
            assert typed(mappings.values(name, resource)) == typed(want), (name, resource.get("id"))
            assert mappings.one(name, resource) == (want[0] if want else None), name
            assert mappings.flag(name, resource) is (bool(want) and want[0] is True), name
            compared += resource.get("resourceType") == rule.on
    assert compared > 10_000
    kinds = {r["resourceType"] for r in generated_resources(mappings)}
    assert {"ChargeItem", "Procedure"} <= kinds


TABLES = {
    "flags": CodeTable("flags", target="t", entries={"1": TableEntry("one"), "True": TableEntry("true")}),
    "any": CodeTable("any", target="t", passthrough=True),
}


def odd_set(source: str, *steps: Step) -> MappingSet:
    rule = FieldRule("encounter.minutes", "Encounter", (compile_expression(source),), tuple(steps))
    return MappingSet(version="t", profile="t", fields={"encounter.minutes": rule}, tables=TABLES)


EDGE_RESOURCES: list[dict[str, Any]] = [
    {"a": ["x", "y", None, 1, True, 1.0, "", Decimal("1.0")]},  # where on a list of primitives
    {"a": [{"b": ["x"], "c": 1}, {"b": [["x"]], "c": 2}, {"b": [None, "x"], "c": 3}, {"b": ["x", "x"], "c": 4}]},
    {"a": [{"b": {"c": "x"}, "c": True}, {"b": [{"c": "x"}, {"c": "y"}], "c": 0}, {"b": "", "c": ""}]},
    {"a": {"b": "", "c": [1, True, 1.0, 0, False, Decimal("0.0")]}},
    {"a": [{"code": 1}, {"code": True}, {"code": "1"}, {"code": "True"}, {"system": True, "code": "1"}]},
    {"a": [{"coding": [{"code": "1"}, {"system": 1, "code": "True"}, {"system": [1], "code": "1"}]}]},
    {"a": [[{"b": "x"}], {"b": ["", None]}], "b": 2.5},
    {"a": {"c": [[1, 2], [1, 2], [True, 2], ["x"], [], [[]], {"d": [1]}, {"d": [1]}]}},  # list values
    {"a": [{"c": "NaN"}, {"c": "sNaN"}, {"c": "-Infinity"}, {"c": "inf"}, {"c": "1.5"}, {"c": "abc"}]},
]
EDGE_FIELDS = [
    ("Encounter.a.where(b = 'x').c", ()),
    ("Encounter.a.where(b = '').c", ()),
    ("Encounter.a.where(b.c = 'x').c", (Step("first"),)),
    ("Encounter.a.c", (Step("any_of", ["1", "True"]),)),
    ("Encounter.a.c", (Step("number"),)),
    ("Encounter.a.c", (Step("text"), Step("distinct"))),
    ("Encounter.a.c", (Step("distinct"),)),
    ("Encounter.a.c", (Step("number"), Step("distinct"))),
    ("Encounter.a.c", (Step("integer"),)),
    ("Encounter.a.c", (Step("money"),)),
    ("Encounter.a", (Step("map_code", ["flags", "any"]), Step("code"))),
    ("Encounter.a.code", (Step("map_code", ["flags"]),)),
    ("Encounter.a.b | Encounter.b", (Step("text"),)),
    ("Encounter.a.b", (Step("exists"),)),
    ("Encounter.a.b", (Step("default", ""),)),
]


def test_edge_shapes_equal_the_reference() -> None:
    for source, steps in EDGE_FIELDS:
        odd = odd_set(source, *steps)
        for shape in EDGE_RESOURCES:
            resource = {"resourceType": "Encounter", **shape}
            want = reference(odd, "encounter.minutes", resource)
            for _ in range(2):  # the second time through the code tables' memo
                assert typed(odd.values("encounter.minutes", resource)) == typed(want), (source, shape)
