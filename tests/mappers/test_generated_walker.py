"""The generated walker functions give exactly what the step-by-step walker and fhirpathpy give.

Every walked expression of the shipped mapping config, on every resource of the example bundles
(and on generated resources with the shapes the walker must get right: lists, nulls, decimals,
non-dict values, the wrong resource type); every field of the config through the fused field
function against the step-by-step ``values``; code-table lookups remembered.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from app.mappers import MappingSet
from app.mappers.fhirpath import ExpressionError, compile_expression, compile_slow, compile_stepwise, raw_accessor
from app.mappers.tables import CodeTable, TableEntry
from app.mappers.transforms import TRANSFORMS, Step, apply_steps, compile_step

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@cache
def example_resources() -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    for path in sorted((EXAMPLES / "bundles").glob("*.json")):
        out += [entry["resource"] for entry in json.loads(path.read_text())["entry"]]
    return tuple(out)


def shipped_expressions(mappings: MappingSet) -> list[str]:
    return sorted({s.expression for rule in mappings.fields.values() for s in rule.sources if s.walked})


def test_every_walked_expression_of_the_config_matches_fhirpathpy_on_the_examples(mappings: MappingSet) -> None:
    expressions = shipped_expressions(mappings)
    assert len(expressions) > 40  # the shipped config: nearly every field is walked
    resources = example_resources()
    for expression in expressions:
        fast, stepwise, slow = compile_expression(expression), compile_stepwise(expression), compile_slow(expression)
        head = expression.split(".", 1)[0]
        for resource in resources:
            got = fast(resource)
            assert got == stepwise(resource), (expression, resource.get("id"))
            if resource["resourceType"] == head:  # fhirpathpy is slow: the other types are [] (checked above)
                assert got == slow(resource), (expression, resource.get("id"))
            else:
                assert got == []


def random_value(rng: random.Random, depth: int) -> Any:
    """A JSON-ish value with the odd shapes EHR data may carry."""
    roll = rng.random()
    if depth <= 0 or roll < 0.3:
        return rng.choice(["PPRF", "min", "completed", "x", 1, 2.5, 1.0, 0, True, False, None, Decimal("3.0")])
    if roll < 0.6:
        return [random_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return random_object(rng, depth - 1)


NAMES = ["a", "b", "code", "coding", "type", "value", "status", "individual", "reference"]


def random_object(rng: random.Random, depth: int) -> dict[str, Any]:
    return {name: random_value(rng, depth) for name in rng.sample(NAMES, rng.randint(0, 5))}


GENERATED = [
    "Encounter.a",
    "Encounter.a.b.code",
    "Encounter.type.coding.code",
    "Encounter.a.where(code = 'PPRF').value",
    "Encounter.where(status = 'completed').a.value",
    "Encounter.a.where(b.code = 'min').where(status = 'x').reference",
    "Encounter.type.where(coding.code = 'PPRF').coding.where(code = 'PPRF')",
    "Encounter.a | Encounter.b",
    "Encounter.a.value | Encounter.b.where(code = 'x').value | Encounter.value",
]


@pytest.mark.parametrize("expression", GENERATED)
def test_generated_walker_matches_fhirpathpy_on_odd_shapes(expression: str) -> None:
    fast, stepwise, slow = compile_expression(expression), compile_stepwise(expression), compile_slow(expression)
    assert fast.walked
    rng = random.Random(23)
    for _ in range(400):
        resource = {"resourceType": rng.choice(["Encounter", "Encounter", "Patient"]), **random_object(rng, 4)}
        got = fast(resource)
        assert got == stepwise(resource) == slow(resource), resource
        assert [type(v) for v in got] == [type(v) for v in slow(resource)], resource  # Decimal, not float


def test_floats_become_decimals_and_the_rest_is_untouched() -> None:
    path = compile_expression("Encounter.length.value")
    assert path({"resourceType": "Encounter", "length": [{"value": 12.5}, {"value": 3}, {"value": None}]}) == [
        Decimal("12.5"),
        3,
    ]
    child = {"code": "x"}
    (got,) = compile_expression("Encounter.type")({"resourceType": "Encounter", "type": [child]})
    assert got is child  # the resource's own element, as before


def test_only_checked_names_reach_the_generated_source() -> None:
    with pytest.raises(ExpressionError):
        raw_accessor(("code')\nimport os\n#",))
    walk = raw_accessor(((("code",), 'it\'s "quoted"\n'),))  # a where literal is data, not source
    assert walk({"code": 'it\'s "quoted"\n'}) == [{"code": 'it\'s "quoted"\n'}]


def test_every_field_of_the_config_gives_what_the_stepwise_values_give(mappings: MappingSet) -> None:
    resources = example_resources()
    for name in mappings.fields:
        for resource in resources:
            assert mappings.values(name, resource) == mappings.values_stepwise(name, resource), (name, resource["id"])
    assert mappings.values("encounter.start", None) == mappings.values_stepwise("encounter.start", None) == []
    assert mappings.values("medication.code", {"resourceType": "Medication"}) == []


TABLES = {
    "labs": CodeTable("labs", target="cpt", sources=("loinc",), entries={"4548-4": TableEntry("83036")}),
    "direct": CodeTable("direct", target="cpt", sources=("cpt",), passthrough=True, category="procedure"),
    "classes": CodeTable("classes", target="pc", match="prefix", entries={"E11": TableEntry("chronic")}),
}
ARGS = {"any_of": ["VR", 1], "starts_with": "Rel", "system": ["loinc", "cpt"], "join": ", ", "default": 1}
ARGS |= {"money": "EUR", "map_code": ["labs", "direct", "classes"]}
VALUES = [
    [],
    ["2024-11-20T10:00:00Z", "junk", 1, True, 2.5, "E11.9", "RelatedPerson/1"],
    [{"system": "loinc", "code": "4548-4"}, {"coding": [{"system": "cpt", "code": "93000"}, None]}],
    [Decimal("12.345"), Decimal("2"), "3", {"reference": "Patient/1"}, ["nested"]],
]


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_compiled_steps_give_what_apply_steps_gives(name: str) -> None:
    step = Step(name, ARGS.get(name))
    compiled = compile_step(step, TABLES)
    for values in VALUES:
        assert outcome(compiled, values) == outcome(lambda v: apply_steps(v, (step,), TABLES), values), (name, values)


def outcome(fn: Any, values: list[Any]) -> Any:
    try:
        return fn(list(values))
    except TypeError as exc:  # distinct of a list value raises, both ways
        return type(exc)


def test_code_table_lookups_are_remembered_and_equal() -> None:
    table = CodeTable("direct", target="cpt", sources=("cpt",), passthrough=True, category="procedure")
    first = table.lookup("cpt", "93000")
    assert first is not None and first == table._lookup("cpt", "93000")
    assert table.lookup("cpt", "93000") is first  # immutable: shared
    assert table.lookup("loinc", "93000") is None and table.lookup(None, "93000") == table._lookup(None, "93000")
    odd = CodeTable("bare", target="pos", entries={"AMB": TableEntry("11")})
    one, true = odd.lookup(1, "AMB"), odd.lookup(True, "AMB")  # type: ignore[arg-type]
    assert one is not None and true is not None
    assert (one.source_system, true.source_system) == (1, True)  # 1 == True: never one memo key


def test_the_memo_is_bounded() -> None:
    from app.mappers import tables

    table = CodeTable("direct", target="cpt", sources=("cpt",), passthrough=True)
    for n in range(tables._MEMO_SIZE + 10):
        assert table.lookup("cpt", f"C{n}") is not None
    assert len(table._memo) <= tables._MEMO_SIZE


def test_a_field_whose_source_names_another_type_gives_nothing_from_it(mappings: MappingSet) -> None:
    from app.mappers.spec import FieldRule

    rule = FieldRule(
        name="encounter.start",
        on="Encounter",
        sources=(compile_expression("Patient.birthDate"), compile_expression("Encounter.period.start")),
        steps=(Step("first"), Step("date")),
    )
    odd = MappingSet(version="t", profile="t", fields={"encounter.start": rule}, tables={})
    resource = {"resourceType": "Encounter", "period": {"start": "2026-12-01T10:00:00Z"}, "birthDate": "1970-01-01"}
    assert odd.values("encounter.start", resource) == odd.values_stepwise("encounter.start", resource)
    assert odd.values("encounter.start", resource) == ["2026-12-01"]


def test_a_field_mixing_fhirpathpy_union_and_plain_sources_gives_what_the_stepwise_values_give() -> None:
    from app.mappers.spec import FieldRule

    sources = (
        compile_expression("Encounter.participant.where(period.exists()).individual"),  # fhirpathpy
        compile_expression("Encounter.a.value | Encounter.b.value"),  # union walker
        compile_expression("Encounter.length.value"),  # plain: floats become Decimals
    )
    assert [s.walked for s in sources] == [False, True, True]
    rule = FieldRule(name="encounter.minutes", on="Encounter", sources=sources, steps=(Step("number"),))
    odd = MappingSet(version="t", profile="t", fields={"encounter.minutes": rule}, tables={})
    rng = random.Random(5)
    for _ in range(200):
        resource = {"resourceType": "Encounter", **random_object(rng, 3)}
        if rng.random() < 0.5:
            resource["length"] = {"value": rng.choice([1.5, 2, "x"])}
        assert odd.values("encounter.minutes", resource) == odd.values_stepwise("encounter.minutes", resource)
