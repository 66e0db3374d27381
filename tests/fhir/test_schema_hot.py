"""The hot path's rewritten schema (app.fhir.schema_hot) accepts exactly what the per-type validators accept.

Each rewrite is checked with values it must still reject (and neighbours it must still accept), on
both validators; the whole differential corpus and its mutations get the same verdict from both.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.fhir import schema, schema_hot
from app.fhir.schema_hot import hot_definitions, hot_validator
from app.fhir.schema_nested import holders
from tests.fhir.test_schema_differential import corpus, mutated


def both(resource: dict[str, Any]) -> tuple[bool, bool]:
    """(hot verdict, per-type verdict) on the resource itself (nested resources aside)."""
    rt = resource["resourceType"]
    return hot_validator().is_valid({rt: resource}), schema.validator(rt).is_valid(resource)


def verdict(resource: dict[str, Any]) -> bool:
    hot, own = both(resource)
    assert hot == own, resource
    return hot


PATIENT = {"resourceType": "Patient"}
CODING = {"system": "http://loinc.org", "code": "1234-5"}


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("a-B.9", True),
        ("x" * 64, True),
        ("x" * 65, False),  # {1,64} -> maxLength 64
        ("", False),
        ("a b", False),
        ("a_b", False),
        ("é", False),  # one code point, but outside the ASCII class
        ("١", False),  # an Arabic-Indic digit: not [0-9]
        ("x\n", False),  # $ is the end of the text, not before a final newline
    ],
)
def test_id_rewrite(value: str, valid: bool) -> None:
    assert verdict({**PATIENT, "id": value}) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("AMB", True),
        ("a b", True),  # single inner whitespace: only the original's branch accepts it
        ("a\tb", True),
        ("a\u00a0b", True),
        ("a b c", True),
        ("", False),
        (" a", False),
        ("a ", False),
        ("a  b", False),
        ("a\t\tb", False),
        ("\ufeffa", False),  # ECMA-262 whitespace
        ("a\u3000", False),
        ("a\n", False),
    ],
)
def test_code_rewrite(value: str, valid: bool) -> None:
    assert verdict({**PATIENT, "identifier": [{"type": {"coding": [{**CODING, "code": value}]}}]}) is valid


@pytest.mark.parametrize(
    ("element", "value", "valid"),
    [
        ("active", True, True),
        ("active", "true", False),  # boolean's dead pattern dropped: a string is still not a boolean
        ("multipleBirthInteger", 3, True),
        ("multipleBirthInteger", "3", False),
        ("multipleBirthInteger", 2**31, False),
        ("multipleBirthBoolean", "false", False),
    ],
)
def test_dead_patterns_dropped(element: str, value: Any, valid: bool) -> None:
    assert verdict({**PATIENT, element: value}) is valid


@pytest.mark.parametrize(
    ("element", "value", "valid"),
    [
        ("birthDate", "1970-01-01", True),
        ("birthDate", "1970", True),
        ("birthDate", "1970-13-01", False),
        ("birthDate", "0000-01-01", False),
        ("birthDate", 19700101, False),
        ("gender", "other", True),
        ("gender", "x", False),
        ("implicitRules", "http://x.org/rules", True),
        ("implicitRules", "http://x.org/a b", False),
        ("language", "en-US", True),
        ("language", "en US", True),
        ("language", " en", False),
    ],
)
def test_inlined_primitives(element: str, value: Any, valid: bool) -> None:
    assert verdict({**PATIENT, element: value}) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("Jane", True), ("a b\r\n\tc", True), ("", False), ("a\u000bb", False), ("a\u2028", False), (7, False)],
)
def test_inlined_string_and_choice_types(value: Any, valid: bool) -> None:
    extension = {"url": "http://example.org/x", "valueString": value}
    assert verdict({**PATIENT, "name": [{"text": value}]}) is valid
    assert verdict({**PATIENT, "extension": [extension]}) is valid


def test_definitions_are_left_untouched() -> None:
    assert schema.definitions()["code"]["pattern"] == schema_hot.CODE_PATTERN
    assert schema.definitions()["id"]["pattern"] == schema_hot.ID_PATTERN
    assert "description" in schema.definitions()["Coding"]
    hot = hot_definitions()
    assert "description" not in hot["Coding"]
    assert hot["Coding"]["properties"]["code"] == hot["code"]  # inlined, not referenced
    assert hot["id"] == {"type": "string", "pattern": schema_hot.ID_CLASS, "maxLength": 64}


def test_same_verdict_on_the_corpus_and_its_mutations() -> None:
    resources = [r for _, r in corpus()] + [m.resource for m, _, _ in mutated()]
    resources = [r for r in resources if r["resourceType"] in schema.resource_types()]
    assert len(resources) > 2000
    differ = [r["resourceType"] for r in resources if len(set(both(r))) > 1]
    assert differ == []
    assert sum(1 for r in resources if not both(r)[0]) > 500  # the invalidating mutations


def test_every_type_holds_nested_resources_in_at_most_one_property() -> None:
    """The hot path checks one name per type (``contained``, ``entry``, ``parameter``) for nested resources."""
    assert {tuple(holders().get(t, ())) for t in schema.resource_types()} == {
        ("contained",),
        ("entry",),
        ("parameter",),
        (),
    }
    for resource_type in sorted(schema.resource_types()):
        reason = schema.first_error(resource_type, {"resourceType": resource_type})  # ValueError if not
        assert reason is None or ": " in reason
