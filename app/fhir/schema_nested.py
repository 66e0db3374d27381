"""Where resources sit inside resources (contained, Bundle entries, Parameters), found from the R4 schema.

``ResourceList`` in the schema only checks that a nested resource names an R4 type; this module walks
a validated resource to the places the schema says hold resources, so that each nested resource is
validated with its own type's validator.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

Path = tuple[str | int, ...]
RESOURCE = ""  # the target of a property that holds a resource


def _target(prop: dict[str, Any]) -> str | None:
    ref = prop.get("items", prop).get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


@cache
def holders() -> dict[str, dict[str, str]]:
    """Per definition, its properties leading to nested resources: ``RESOURCE`` or the definition to descend.

    ``Bundle`` -> ``{"entry": "Bundle_Entry"}``, ``Bundle_Entry`` -> ``{"resource": "", "response": ...}``.
    """
    from app.fhir.schema import definitions

    defs = definitions()
    out: dict[str, dict[str, str]] = {}
    for name, definition in defs.items():
        for prop_name, prop in definition.get("properties", {}).items():
            if _target(prop) in ("ResourceList", "Resource"):
                out.setdefault(name, {})[prop_name] = RESOURCE
    changed = True
    while changed:
        changed = False
        for name, definition in defs.items():
            for prop_name, prop in definition.get("properties", {}).items():
                target = _target(prop)
                if target in out and prop_name not in out.get(name, {}):
                    out.setdefault(name, {})[prop_name] = target
                    changed = True
    return out


def nested_resources(node: dict[str, Any], definition: str, path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, resource) for each resource directly nested in ``node`` (not those nested in those)."""
    for prop_name, target in holders().get(definition, {}).items():
        value = node.get(prop_name)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            where = (*path, prop_name, i) if isinstance(value, list) else (*path, prop_name)
            if target == RESOURCE:
                yield where, item
            else:
                yield from nested_resources(item, target, where)
