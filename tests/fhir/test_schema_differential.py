"""Differential test: the R4 JSON Schema validator against the fhir.resources R4B models.

Corpus: every resource (top level and nested: Bundle entries, contained, CDS Hooks payloads) of every
JSON file under tests/ and examples/ (the generated example Bundles entry by entry, not as a whole:
validating them twice with the models would double this test's time). tests/fixtures/conformance
holds the HL7 / Inferno conformance files, copied from ../shared/conformance with their sources.
Plus 1,200 deterministic mutations of them (wrong JSON types, codes outside required bindings,
malformed dates, unknown elements, wrong cardinality, and two kinds that keep a resource valid: an
added extension, a partial date).

Rules checked:
1. Every resource the models reject is rejected by the schema, or falls in a documented class of
   ``MODELS_ONLY`` below (what the R4B models check that the R4 schema cannot, or R4/R4B differences).
2. No valid R4 resource is rejected: the unmutated corpus and the benign mutations pass the schema
   (any exception would be listed, with its reason, in ``SCHEMA_ONLY_ON_VALID``; there is none).
3. Every invalidating mutation is rejected by the schema (whatever the models say: they coerce
   ``"yes"`` to a boolean and 12345 to a dateTime, and do not check required bindings).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from app.fhir import schema
from app.fhir.r4 import InvalidResource, validate_resource, validate_with_models
from tests.fhir.schema_mutations import mutations

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261203
MUTATIONS = 1200


@dataclass(frozen=True)
class Difference:
    """A documented class of resources on which the two validators disagree, with the reason."""

    name: str
    reason: str
    example: dict[str, Any]
    models_error: str  # a fragment of the models' message that identifies the class


PATIENT = {"resourceType": "Patient", "id": "p1"}
MODELS_ONLY = [
    Difference(
        "choice-exclusive",
        "R4 allows one of the types of a choice element (deceased[x]); the HL7 schema lists each type as an "
        "independent optional property, so two at once pass.",
        {**PATIENT, "deceasedBoolean": False, "deceasedDateTime": "2020-01-01"},
        "but got multiple",
    ),
    Difference(
        "calendar-date",
        "The schema's date regex checks the shape (month 01-12, day 01-31), not the calendar: 1970-02-30 passes.",
        {**PATIENT, "birthDate": "1970-02-30"},
        "outside expected range",
    ),
    Difference(
        "r4-only-element",
        "R4B redesigned Evidence: a valid R4 Evidence lacks R4B's required variableDefinition (and carries "
        "R4 elements R4B removed, rejected as extra inputs). The R4 schema accepts it. Correct for R4.",
        {
            "resourceType": "Evidence",
            "status": "draft",
            "exposureBackground": {"reference": "EvidenceVariable/1"},
        },
        "variableDefinition: Field required",
    ),
    Difference(
        "r4-only-type",
        "Resource types of R4 that R4B dropped (EffectEvidenceSynthesis, RiskEvidenceSynthesis, MedicinalProduct*, "
        "SubstancePolymer, ...): the R4B models do not know them, the R4 schema validates them.",
        {"resourceType": "EffectEvidenceSynthesis", "status": "draft", "population": {"reference": "Group/1"}}
        | {"exposure": {"reference": "EvidenceVariable/1"}, "exposureAlternative": {"reference": "EvidenceVariable/2"}}
        | {"outcome": {"reference": "EvidenceVariable/3"}},
        "unknown resource type",
    ),
]
DOCUMENTED = MODELS_ONLY
SCHEMA_ONLY_ON_VALID: list[Difference] = []  # valid R4 the schema rejects: none known


def verdict(fn: Any, resource: dict[str, Any]) -> str | None:
    try:
        fn(resource)
    except InvalidResource as exc:
        return str(exc)
    return None


def classify(models_error: str) -> str | None:
    return next((d.name for d in DOCUMENTED if d.models_error in models_error), None)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("resourceType"), str) and node["resourceType"][:1].isupper():
            yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@cache
def corpus() -> tuple[tuple[str, dict[str, Any]], ...]:
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    files = sorted((ROOT / "tests").rglob("*.json")) + sorted((ROOT / "examples").rglob("*.json"))
    for path in files:
        for resource in _walk(json.loads(path.read_text())):
            if resource["resourceType"] == "Bundle" and path.is_relative_to(ROOT / "examples"):
                continue  # the generated examples' Bundles: their entries are in the corpus one by one
            seen.setdefault(json.dumps(resource, sort_keys=True), (str(path.relative_to(ROOT)), resource))
    return tuple(seen.values())


@cache
def verdicts() -> tuple[tuple[str, dict[str, Any], str | None, str | None], ...]:
    return tuple((src, r, verdict(validate_with_models, r), verdict(validate_resource, r)) for src, r in corpus())


def test_corpus_covers_fixtures_examples_and_conformance_files() -> None:
    sources = {src.split("/")[0] + "/" + src.split("/")[1] for src, _ in corpus()}
    assert "tests/fixtures" in sources  # the conformance examples live once, in tests/fixtures/conformance
    assert any(src.startswith("examples/") for src in sources)
    assert any("inferno-davinci-pas-test-kit" in src for src, _ in corpus())
    assert len(corpus()) > 900


def test_every_resource_the_models_reject_the_schema_rejects_or_is_documented() -> None:
    unexplained = [
        (src, r["resourceType"], m)
        for src, r, m, s in verdicts()
        if m is not None and s is None and classify(m) is None
    ]
    assert unexplained == []
    assert sum(1 for *_, m, s in verdicts() if m and s) >= 5  # the negative conformance examples


def test_no_resource_of_the_corpus_the_models_accept_is_rejected() -> None:
    rejected = [(src, s) for src, _, m, s in verdicts() if m is None and s is not None]
    assert rejected == []


@cache
def mutated() -> tuple[tuple[Any, str | None, str | None], ...]:
    pool = [r for _, r, m, s in verdicts() if m is None and s is None and r["resourceType"] != "Bundle"]
    out = mutations(pool, MUTATIONS, SEED)
    return tuple((m, verdict(validate_with_models, m.resource), verdict(validate_resource, m.resource)) for m in out)


def test_mutations_are_many_and_of_every_kind() -> None:
    kinds = Counter(m.kind for m, _, _ in mutated())
    assert sum(kinds.values()) >= 1000
    assert set(kinds) >= {"wrong_type", "bad_code", "malformed_date", "unknown_element", "wrong_cardinality"}
    assert min(kinds.values()) >= 100


def test_mutations_the_models_reject_the_schema_rejects() -> None:
    unexplained = [(m.kind, m.path, me) for m, me, se in mutated() if me and se is None and classify(me) is None]
    assert unexplained == []


def test_invalidating_mutations_are_rejected_and_benign_ones_accepted() -> None:
    missed = [(m.kind, m.path) for m, _, se in mutated() if not m.benign and se is None]
    false_alarms = [(m.kind, m.path, se) for m, _, se in mutated() if m.benign and se is not None]
    assert missed == []
    assert false_alarms == []


@pytest.mark.parametrize("difference", DOCUMENTED, ids=lambda d: d.name)
def test_documented_difference_holds(difference: Difference) -> None:
    """Each documented class is real: the models reject its example, the schema accepts it."""
    models = verdict(validate_with_models, difference.example)
    assert models is not None and difference.models_error in models
    assert difference.example["resourceType"] in schema.resource_types()
    assert verdict(validate_resource, difference.example) is None
