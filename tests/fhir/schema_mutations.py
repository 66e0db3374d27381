"""Deterministic mutations of valid FHIR resources for the R4 schema differential test.

The R4 schema (as ``app.fhir.schema`` loads it) is used only as a map of where things are: which
elements are codes with a required binding, dates, arrays, required. Each mutation says whether it
keeps the resource valid R4 (``benign``) or breaks it by construction (an R4 rule it violates).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from app.fhir import schema

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Element:
    """One element of a resource: where it is, its value and the schema that governs it."""

    path: Path
    value: Any
    prop: dict[str, Any]  # the property schema ({"$ref": ...}, {"type": "array", ...}, inline)
    definition: str | None  # the definition its value resolves to (dateTime, Coding, Encounter_Location)


@dataclass(frozen=True)
class Mutation:
    kind: str
    benign: bool
    path: Path
    resource: dict[str, Any]


def _target(prop: dict[str, Any], value: Any) -> str | None:
    ref = prop.get("$ref", "")
    name = ref.rsplit("/", 1)[-1] if ref else None
    if name in ("ResourceList", "Resource") and isinstance(value, dict):
        return str(value.get("resourceType"))
    return name


def elements(node: dict[str, Any], definition: str, path: Path = ()) -> Iterator[Element]:
    """Every element under ``node`` (an instance of ``definition``), depth first; arrays and their items."""
    props = schema.definitions()[definition].get("properties", {})
    for key, value in node.items():
        prop = props.get(key)
        if prop is None or key == "resourceType":
            continue
        if prop.get("type") == "array" and isinstance(value, list):
            yield Element((*path, key), value, prop, None)
            for i, item in enumerate(value):
                yield from _element((*path, key, i), item, prop["items"])
        else:
            yield from _element((*path, key), value, prop)


def _element(path: Path, value: Any, prop: dict[str, Any]) -> Iterator[Element]:
    target = _target(prop, value)
    yield Element(path, value, prop, target)
    if isinstance(value, dict) and target in schema.definitions() and target != "Extension":
        yield from elements(value, target, path)


def _set(resource: dict[str, Any], path: Path, value: Any) -> None:
    node: Any = resource
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _delete(resource: dict[str, Any], path: Path) -> None:
    node: Any = resource
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


def _is_primitive(e: Element, json_type: str) -> bool:
    definition = schema.definitions().get(e.definition or "", e.prop)
    return not isinstance(e.value, dict | list) and definition.get("type") == json_type


BAD_DATES = ("2024-13-01", "12/01/2024", "2024-01-01T10:00", "2024-1-5", "20240105")


def wrong_type(rng: random.Random, r: dict[str, Any], es: list[Element]) -> Path | None:
    options = [e for e in es if _is_primitive(e, "string") or _is_primitive(e, "boolean")]
    options += [e for e in es if isinstance(e.value, dict) and e.definition not in schema.resource_types()]
    if not options:
        return None
    e = rng.choice(options)
    new = {str: 12345, bool: "yes", dict: "not an object"}[type(e.value)]
    _set(r, e.path, new)
    return e.path


def bad_code(rng: random.Random, r: dict[str, Any], es: list[Element]) -> Path | None:
    options = [e for e in es if "enum" in e.prop and isinstance(e.value, str)]
    if not options:
        return None
    e = rng.choice(options)
    _set(r, e.path, "not-a-code")
    return e.path


def malformed_date(rng: random.Random, r: dict[str, Any], es: list[Element]) -> Path | None:
    options = [e for e in es if e.definition in ("date", "dateTime", "instant") and isinstance(e.value, str)]
    if not options:
        return None
    e = rng.choice(options)
    _set(r, e.path, rng.choice(BAD_DATES))
    return e.path


def unknown_element(rng: random.Random, r: dict[str, Any], es: list[Element]) -> Path | None:
    options: list[Path] = [()] + [e.path for e in es if isinstance(e.value, dict) and e.definition != "Extension"]
    path = rng.choice(options)
    _set(r, (*path, "unknownElement"), "x")
    return path


def wrong_cardinality(rng: random.Random, r: dict[str, Any], es: list[Element]) -> Path | None:
    """An array where R4 has max 1 (or a single object where it has max *), or a required element removed."""
    many = [e for e in es if isinstance(e.value, list) and e.value and isinstance(e.value[0], dict)]
    single = [e for e in es if isinstance(e.value, dict) and isinstance(e.path[-1], str)]
    required = _required(r, es)
    pick = rng.randrange(3)
    if pick == 0 and many:
        e = rng.choice(many)
        _set(r, e.path, e.value[0])
        return e.path
    if pick == 1 and single:
        e = rng.choice(single)
        _set(r, e.path, [e.value])
        return e.path
    if required:
        parent, names = rng.choice(required)
        for name in names:
            _delete(r, (*parent, name))
        return (*parent, names[0])
    return None


def _required(r: dict[str, Any], es: list[Element]) -> list[tuple[Path, list[str]]]:
    """(object path, names present that together satisfy one required element) for each required element."""
    objects: list[tuple[Path, dict[str, Any], str]] = [((), r, r["resourceType"])]
    objects += [(e.path, e.value, e.definition) for e in es if isinstance(e.value, dict) and e.definition]
    out = []
    for path, node, definition in objects:
        d = schema.definitions().get(definition, {})
        groups = [[n] for n in d.get("required", []) if n != "resourceType"]
        groups += [[a["required"][0] for a in g["anyOf"]] for g in d.get("allOf", []) if "anyOf" in g]
        for group in groups:
            present = [n for n in group if n in node]
            if present:
                out.append((path, present))
    return out


def add_extension(rng: random.Random, r: dict[str, Any], es: list[Element]) -> Path | None:
    defs = schema.definitions()
    root_has_extension = "extension" in defs.get(str(r.get("resourceType")), {}).get("properties", {})
    options: list[Path] = [()] * root_has_extension + [  # Bundle, Parameters, Binary have none
        e.path
        for e in es
        if isinstance(e.value, dict)
        and e.definition != "Extension"
        and "extension" in defs.get(e.definition or "", {}).get("properties", {})
    ]
    if not options:
        return None
    path = rng.choice(options)
    node: Any = r
    for part in path:
        node = node[part]
    node.setdefault("extension", []).append({"url": "http://example.org/fhir/ext", "valueString": "x"})
    return path


def partial_date(rng: random.Random, r: dict[str, Any], es: list[Element]) -> Path | None:
    options = [e for e in es if e.definition in ("date", "dateTime") and isinstance(e.value, str)]
    if not options:
        return None
    e = rng.choice(options)
    _set(r, e.path, e.value[:4] if rng.random() < 0.5 else e.value[:7])
    return e.path


Mutator = Callable[[random.Random, dict[str, Any], list[Element]], Path | None]
MUTATORS: dict[str, tuple[Mutator, bool]] = {
    "wrong_type": (wrong_type, False),
    "bad_code": (bad_code, False),
    "malformed_date": (malformed_date, False),
    "unknown_element": (unknown_element, False),
    "wrong_cardinality": (wrong_cardinality, False),
    "add_extension": (add_extension, True),
    "partial_date": (partial_date, True),
}


def mutations(pool: list[dict[str, Any]], count: int, seed: int) -> list[Mutation]:
    """``count`` mutations of resources drawn from ``pool`` (deterministic for a seed)."""
    rng = random.Random(seed)
    kinds = sorted(MUTATORS)
    out: list[Mutation] = []
    while len(out) < count:
        original = rng.choice(pool)
        kind = kinds[len(out) % len(kinds)]
        mutator, benign = MUTATORS[kind]
        resource = copy.deepcopy(original)
        path = mutator(rng, resource, list(elements(resource, resource["resourceType"])))
        if path is not None:
            out.append(Mutation(kind, benign, path, resource))
    return out
