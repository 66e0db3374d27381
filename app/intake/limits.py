"""What intake refuses before anything is stored (400/413 + OperationOutcome), pure.

A notification is refused at the door, never stored and left to fail later (or to fail the group
commit it would share with other tenants' notifications), when:

- its JSON nests deeper than ``max_depth`` (checked in Rust with a chain of ``max_depth`` schema
  definitions, ~20 us for a 20-resource notification), or any string or key holds a NUL character;
- it carries more than ``max_events`` notification events (413: one request must not flood the queue);
- an event number or the events-since-start count does not fit 64 bits (checked by the parser);
- the Bundle id, a resource id, a focus id or a version id is not a FHIR id (``[A-Za-z0-9\\-.]{1,64}``:
  the columns that hold them are bounded, and a 100,000-character id is not an id);
- a carried resource is not valid FHIR R4 (the compiled R4 JSON Schema of :mod:`app.fhir.r4`;
  an unknown ``resourceType`` included): the message names the entry, the resource and the element
  path with the rule, never a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs

from app.fhir.r4 import InvalidResource, validate_resource
from app.intake.errors import InvalidNotification, TooManyEvents

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_NUL = b"\\u0000"


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    max_depth: int = 64
    max_events: int = 1000
    validate_resources: bool = True


@cache
def _depth_validator(limit: int, *, no_nul: bool) -> jsonschema_rs.Validator:
    """Valid iff containers nest at most ``limit`` deep (and, ``no_nul``: no string or key holds NUL)."""
    clean = {"pattern": "^[^\\x00]*$"} if no_nul else {}
    keys = {"propertyNames": clean} if no_nul else {}
    defs: dict[str, Any] = {
        f"d{i}": {
            "additionalProperties": {"$ref": f"#/definitions/d{i + 1}"},
            "items": {"$ref": f"#/definitions/d{i + 1}"},
            **clean,
            **keys,
        }
        for i in range(limit)
    }
    defs[f"d{limit}"] = {"type": ["string", "number", "boolean", "null"], **clean}
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": defs, "$ref": "#/definitions/d0"}
    return jsonschema_rs.Draft7Validator(schema, pattern_options=jsonschema_rs.RegexOptions())


def check_json(body: bytes, data: Any, limits: IntakeLimits) -> None:
    """Depth and NUL checks of a parsed body (the NUL scan runs only when the raw body has ``\\u0000``)."""
    if not _depth_validator(limits.max_depth, no_nul=False).is_valid(data):
        raise InvalidNotification(f"JSON nested deeper than {limits.max_depth} levels")
    if _NUL in body and not _depth_validator(limits.max_depth, no_nul=True).is_valid(data):
        raise InvalidNotification("a string or key holds a NUL character (\\u0000)")


def check_id(value: Any, what: str) -> None:
    if not isinstance(value, str) or FHIR_ID.fullmatch(value) is None:
        shown = f"({len(value)} characters)" if isinstance(value, str) else f"(a {type(value).__name__})"
        raise InvalidNotification(f"{what} is not a FHIR id [A-Za-z0-9-.]{{1,64}} {shown}")


def check_reference_key(key: str | None, what: str) -> None:
    if key is None:
        return
    resource_type, _, resource_id = key.partition("/")
    if not resource_type.isidentifier() or len(resource_type) > 64:
        raise InvalidNotification(f"{what} names no resource type")
    check_id(resource_id, f"{what} id")


def check_events(count: int, limits: IntakeLimits) -> None:
    if count > limits.max_events:
        raise TooManyEvents(
            f"notification carries {count} events; at most {limits.max_events} per notification (send several)"
        )


def check_resource(resource: dict[str, Any], *, validate: bool) -> None:
    """One carried resource: a FHIR id, then (``validate``) valid R4; the message names the resource."""
    where = str(resource.get("resourceType"))[:64]
    check_id(resource.get("id"), f"{where} id")
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    if version is not None:
        check_id(version, f"{where}/{resource['id']} meta.versionId")
    if not validate:
        return
    try:
        validate_resource(resource)
    except InvalidResource as exc:
        raise InvalidNotification(f"{where}/{resource['id']}: {exc}") from exc
