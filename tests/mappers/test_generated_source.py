"""The generated mapping functions can be read when debugging, and their source holds no text
from the configuration other than checked element names."""

from __future__ import annotations

import gc
import linecache
import re
import traceback
from typing import Any

import pytest

from app.mappers import MappingSet
from app.mappers.fhirpath import (
    CompiledPath,
    ExpressionError,
    compile_expression,
    compile_stepwise,
    exec_generated,
    generated_source,
    raw_accessor,
)
from app.mappers.spec import FieldRule


def test_each_field_keeps_its_generated_source(mappings: MappingSet) -> None:
    source = mappings.source_of("encounter.start")
    assert source is not None and source.startswith("def field(resource):")
    assert ".get('period')" in source and ".get('start')" in source
    assert all(mappings.source_of(name) for name in mappings.fields)
    assert mappings.source_of("location.place_of_service") is None or "def field" in str(
        mappings.source_of("location.place_of_service")
    )
    walker = generated_source(raw_accessor(("a", (("b",), "x"), "c")))
    assert walker is not None and "def walk(root):" in walker and "'x'" not in walker  # the literal is a value


def _broken_source(resource: dict[str, Any]) -> list[Any]:
    raise LookupError("a source that fails")  # stands for a fhirpathpy-run expression raising


def test_a_traceback_through_a_generated_field_shows_its_lines() -> None:
    broken = CompiledPath("Encounter.a.broken()", "Encounter", _broken_source)
    rule = FieldRule("encounter.diagnosis", "Encounter", (compile_expression("Encounter.a"), broken))
    odd = MappingSet(version="t", profile="t", fields={"encounter.diagnosis": rule}, tables={})
    assert odd.values("encounter.diagnosis", {"resourceType": "Encounter", "a": [[1]]}) == [[1]]
    with pytest.raises(LookupError) as caught:  # the first source is empty: the second one runs
        odd.values("encounter.diagnosis", {"resourceType": "Encounter"})
    text = "".join(traceback.format_exception(caught.value))
    assert "mapping field encounter.diagnosis #" in text and "out = source1(resource)" in text


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("def f():\n    return 'not a name'\n", "the text 'not a name'"),
        ("def f():\n    return b'x'\n", "the text b'x'"),
        ("def f():\n    return f'{1} x'\n", "JoinedStr syntax"),
        ("def f():\n    return __import__('os')\n", "the name '__import__'"),
        ("def f(r):\n    return r.__class__.__subclasses__()\n", "the attribute '__subclasses__'"),
        ("def f(r):\n    return out\n", "the name 'out'"),
        ("def walk(root):\n    c = root.get('code')\nimport os\n", "Import syntax"),  # a quote let through
        ("def f(r):\n    return lambda: r\n", "Lambda syntax"),
        ("def f(r):\n    global x\n    x = r\n", "Global syntax"),
        ("def f(r):\n    return [*r]\n", "Starred syntax"),
    ],
)
def test_generated_source_with_anything_else_is_refused(source: str, refused: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(refused)):
        exec_generated(source, {}, "f", "test")


def test_checked_names_and_the_resource_type_key_are_let_through() -> None:
    f = exec_generated("def f(r):\n    return r.get('resourceType'), r.get('code')\n", {}, "f", "test")
    assert f({"resourceType": "X", "code": 1}) == ("X", 1)


LONG = ".".join(f"a{i}" for i in range(40))


def nested(end: object) -> dict[str, object]:
    deep: dict[str, object] = {"a39": end}
    for n in reversed(range(39)):
        deep = {f"a{n}": [deep, None]}
    return deep


@pytest.mark.parametrize(
    "expression",
    [
        f"Encounter.{LONG}",  # 40 nested loops: more than Python compiles (20 blocks, 100 indents)
        f"Encounter.x.where({LONG} = 'v').y",  # the same in a where path
        f"Encounter.{LONG} | Encounter.b",
        "Encounter" + ".where(b = 'v')" * 120 + ".a0",  # 120 nested ifs: more indents than Python takes
    ],
)
def test_a_path_too_long_to_generate_still_loads_and_gives_the_stepwise_result(expression: str) -> None:
    fast, stepwise = compile_expression(expression), compile_stepwise(expression)
    resources = [
        {"resourceType": "Encounter", **nested(["end", None, 2.5]), "b": 1},
        {"resourceType": "Encounter", "x": [{"y": 1, **nested("v")}, {"y": 2, **nested(["v", "v"])}]},
        {"resourceType": "Encounter", "b": "v", "a0": [1, 2.5]},
    ]
    rule = FieldRule("encounter.minutes", "Encounter", (compile_expression("Encounter.z"), fast), ())
    odd = MappingSet(version="t", profile="t", fields={"encounter.minutes": rule}, tables={})
    for resource in resources:
        assert fast(resource) == stepwise(resource)
        assert odd.values("encounter.minutes", resource) == stepwise(resource)
    assert any(stepwise(r) for r in resources)


def test_generated_source_that_does_not_compile_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="generated code does not compile"):
        exec_generated("def f():\n" + "".join("    " * (i + 1) + "if 1:\n" for i in range(120)), {}, "f", "test")


def test_sources_of_generated_functions_no_longer_alive_leave_linecache() -> None:
    """A reload makes new functions; the lines of those dropped must not stay registered forever."""
    kept = raw_accessor(("kept", "x"))
    dropped = [raw_accessor((f"gone{n}", "x")).__code__.co_filename for n in range(300)]  # dropped at once
    twin = raw_accessor(("kept", "x"))  # the same source: one entry, two holders
    del kept
    gc.collect()  # the functions are in cycles with their namespace
    raw_accessor(("next", "x"))  # the next registration drops what no function holds
    assert not [name for name in dropped if name in linecache.cache]
    assert linecache.getline(twin.__code__.co_filename, 1) == "def walk(root):\n"  # its twin still holds it


def test_a_reloaded_mapping_set_replaces_the_lines_of_the_one_it_replaced() -> None:
    def load(n: int) -> MappingSet:
        rule = FieldRule("encounter.minutes", "Encounter", (compile_expression(f"Encounter.v{n}.a"),), ())
        return MappingSet(version=str(n), profile="t", fields={"encounter.minutes": rule}, tables={})

    current, names = load(0), []
    for n in range(1, 200):
        names.append(current._runs["encounter.minutes"].__code__.co_filename)
        current = load(n)  # each reload drops the set before
    gc.collect()
    current = load(200)
    assert not [name for name in names if name in linecache.cache]
    source = current.source_of("encounter.minutes")
    assert source is not None and ".get('v200')" in source
    filename = current._runs["encounter.minutes"].__code__.co_filename
    assert linecache.getline(filename, 1) == "def field(resource):\n"
