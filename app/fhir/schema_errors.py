"""Short, value-free messages for R4 JSON Schema violations: ``<element path>: <rule>``.

Messages carry only schema content (element names, allowed codes, limits), never what the resource
holds: they end up in dead letters and logs, and a resource value can be PHI.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jsonschema_rs

Kind = jsonschema_rs.ValidationErrorKind


def describe(error: jsonschema_rs.ValidationError) -> tuple[list[str | int], str]:
    """The element path and the rule: ``(["name", 0, "period", "start"], "not a valid FHIR dateTime (format)")``."""
    where: list[str | int] = list(error.instance_path)
    element, text = _element_and_rule(error)
    if element:
        where.append(element)
    return where, text


def element_path(parts: Sequence[str | int]) -> str:
    """``["identifier", 0, "system"]`` -> ``identifier[0].system`` (``(root)`` for the resource itself)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _element_and_rule(error: jsonschema_rs.ValidationError) -> tuple[str | None, str]:
    """The element the rule is about when it is not the instance itself (missing, unknown), and the rule."""
    kind = error.kind
    match kind:
        case Kind.AdditionalProperties(unexpected):
            more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
            return _short(unexpected[0]), "unknown element" + more
        case Kind.Required(prop):
            return prop, "required element missing"
        case Kind.AnyOf(context) if _required_alternatives(context):
            names = [n for n in _required_alternatives(context) if not n.startswith("_")]
            label = names[0] if len(names) == 1 else os.path.commonprefix(names) + "[x]"  # noqa: RUF071
            return label, "required element missing"
    return None, _rule(error)


def _rule(error: jsonschema_rs.ValidationError) -> str:
    kind = error.kind
    fhir_type = _fhir_type(error)
    match kind:
        case Kind.Enum(options) if error.instance_path[-1:] == ["resourceType"]:
            return "not an R4 resource type"
        case Kind.Enum(options):
            shown = " | ".join(str(o) for o in options[:8]) + (" | ..." if len(options) > 8 else "")
            return f"code not in the required value set ({shown})"
        case Kind.Constant(expected):
            return f"must be {expected!r}"
        case Kind.Pattern():
            return f"not a valid FHIR {fhir_type or 'value'} (format)"
        case Kind.Type(types):
            expected = "array" if "array" in types else "/".join(types)
            return f"wrong type: expected {expected}" + (f" ({fhir_type})" if fhir_type not in (None, expected) else "")
        case Kind.Minimum(limit) | Kind.Maximum(limit):
            return f"{fhir_type or 'number'} out of range (limit {limit})"
    return f"violates {kind.name}" + (f" of {fhir_type}" if fhir_type else "")


def _fhir_type(error: jsonschema_rs.ValidationError) -> str | None:
    """The primitive FHIR type whose definition holds the failing keyword (``date``), if it is one."""
    path = error.schema_path
    if len(path) == 3 and path[0] == "definitions" and isinstance(path[1], str):
        return path[1]
    return None


def _required_alternatives(context: list[list[jsonschema_rs.ValidationError]]) -> list[str]:
    """The element names of an anyOf of ``required`` (a required primitive or choice), else ``[]``."""
    names = []
    for errors in context:
        for error in errors:
            if not isinstance(error.kind, Kind.Required):
                return []
            names.append(error.kind.property)
    return names


def _short(name: str) -> str:
    return name if len(name) <= 40 else name[:37] + "..."
