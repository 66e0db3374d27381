"""The hot path's R4 validator: one compiled schema for every resource type, rewritten to cost less.

``app.fhir.schema`` compiles the corrected R4 schema per resource type; its validators explain what
is wrong (their schema paths name the FHIR primitive that failed). The hot path only needs a yes or
no, and gets it from the same definitions rewritten as below. Each rewrite accepts exactly the values
the original accepts (tests/fhir/test_schema_hot.py checks each with values it must still reject,
and the differential test runs the whole corpus through both):

1. **Primitives inlined.** A ``{"$ref": "#/definitions/<primitive>"}`` becomes the primitive's own
   keywords. In draft 6/7 a ``$ref`` ignores its siblings (here only ``description``), every ``$ref``
   of the file is a root-relative ``#/definitions/...`` pointer and no schema sets ``$id``, so the
   reference and its target are one schema. It saves a reference hop per primitive value.
2. **Annotations dropped**: ``description`` validates nothing.
3. **Dead patterns dropped**: ``pattern`` constrains strings only; where ``type`` is ``boolean``,
   ``number`` or ``integer`` (``boolean``, ``decimal``, the integers) no string gets to it.
4. **``id``**: ``^[A-Za-z0-9\\-\\.]{1,64}$`` becomes ``^[A-Za-z0-9\\-\\.]+$`` with ``maxLength: 64``.
   The class is ASCII, so a matching string has as many code points (what ``maxLength`` counts) as
   characters; jsonschema-rs checks a ``^[class]+$`` pattern without running the regex engine.
5. **``code``**: ``^[^\\s]+(\\s[^\\s]+)*$`` becomes ``anyOf: [^\\S+$, the same pattern]``. Every string
   without whitespace (almost every code) matches the original, so the union is the original; the
   first branch is the cheap shape, the second runs only for codes with inner spaces.
6. **One validator**: the root is ``{"type": "object", "properties": {T: {"$ref": T}}}`` over all
   definitions and is called with ``{T: resource}``: ``properties`` applies exactly the definition
   of ``T`` to the resource. Shared definitions (Coding, Reference, Extension...) are compiled once for
   all types instead of once per type (less memory, warmer caches, one compilation of ~0.1 s).

Nested resources stay the caller's business (``app.fhir.schema.first_error``), as with the per-type
validators.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema_rs

from app.fhir.schema import definitions, resource_types

ID_PATTERN = "^[A-Za-z0-9\\-\\.]{1,64}$"
ID_CLASS, ID_MAX = "^[A-Za-z0-9\\-\\.]+$", 64
CODE_PATTERN = "^[^\\s]+(\\s[^\\s]+)*$"
NO_WHITESPACE = "^\\S+$"
NOT_STRINGS = ("boolean", "number", "integer")
REF_PREFIX = "#/definitions/"


def is_primitive(definition: dict[str, Any]) -> bool:
    """A primitive type's definition (``string``, ``dateTime``, ``integer``...): no properties, not a reference."""
    return bool(definition) and "properties" not in definition and "$ref" not in definition


def primitive_keywords(definition: dict[str, Any]) -> dict[str, Any]:
    """A primitive's validating keywords after rewrites 2-5."""
    out = {k: v for k, v in definition.items() if k != "description"}
    pattern = out.get("pattern")
    if pattern is None:
        return out
    if out.get("type") in NOT_STRINGS:
        del out["pattern"]
    elif pattern == ID_PATTERN:
        out.update(pattern=ID_CLASS, maxLength=ID_MAX)
    elif pattern == CODE_PATTERN:
        del out["pattern"]
        out["anyOf"] = [{"pattern": NO_WHITESPACE}, {"pattern": CODE_PATTERN}]
    return out


@cache
def hot_definitions() -> dict[str, Any]:
    """The corrected R4 definitions with rewrites 1-5 applied (new objects; ``definitions()`` is untouched)."""
    defs = definitions()
    primitives = {name: primitive_keywords(d) for name, d in defs.items() if is_primitive(d)}

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = ref.removeprefix(REF_PREFIX)
            return dict(primitives[target]) if target in primitives else {"$ref": ref}
        if isinstance(node.get("pattern"), str) and is_primitive(node):  # inline (the value[x] choices)
            return primitive_keywords(node)
        return {k: rewrite(v) for k, v in node.items() if not (k == "description" and isinstance(v, str))}

    return {name: primitives.get(name) or rewrite(d) for name, d in defs.items()}


@cache
def hot_validator() -> jsonschema_rs.Validator:
    """One validator for every R4 type (rewrite 6): ``hot_validator().is_valid({"Patient": patient})``."""
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {t: {"$ref": REF_PREFIX + t} for t in sorted(resource_types())},
        "definitions": hot_definitions(),
    }
    return jsonschema_rs.Draft7Validator(schema, pattern_options=jsonschema_rs.RegexOptions())
