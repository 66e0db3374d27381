"""What intake refuses before anything is stored (400/413 + OperationOutcome), pure.

A notification is refused at the door, never stored and left to fail later (or to fail the group
commit it would share with other tenants' notifications), when:

- its JSON nests deeper than ``max_depth`` (checked in Rust with a chain of ``max_depth`` schema
  definitions, ~5-20 us for a notification), or any string or key holds a NUL character;
- (413) it nests deeper than ``body_depth`` or has an array longer than ``max_array_items``: the
  request limits of every endpoint (``security.*``, :mod:`app.api.limits`), checked here on the
  body's one parse instead of the middleware's byte scan (~80 us for a 1.3 KB notification);
  orjson refuses more than 1,024 levels itself, without recursing in Python;
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
from itertools import accumulate
from typing import Any

import jsonschema_rs

from app.fhir.r4 import InvalidResource, validate_resource
from app.intake.errors import BodyTooLarge, InvalidNotification, TooManyEvents

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_NUL = b"\\u0000"
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string (unrolled: no backtracking)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[]{}", b"\x01\x00\x01\x00")


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    max_depth: int = 64
    max_events: int = 1000
    validate_resources: bool = True
    body_depth: int = 64  # security.max_json_depth (deeper: 413)
    max_array_items: int = 20_000  # security.max_json_array_items (longer: 413)


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
    """Depth, array and NUL checks of a parsed body (the NUL scan runs only when the raw body has ``\\u0000``)."""
    if not _depth_validator(min(limits.max_depth, limits.body_depth), no_nul=False).is_valid(data):
        edge = limits.body_depth
        if edge <= limits.max_depth or not _depth_validator(edge, no_nul=False).is_valid(data):
            raise BodyTooLarge(f"JSON body nested deeper than {limits.body_depth} levels")
        raise InvalidNotification(f"JSON nested deeper than {limits.max_depth} levels")
    if len(body) > 2 * limits.max_array_items and longest_array(data) > limits.max_array_items:
        raise BodyTooLarge(f"JSON body has an array of more than {limits.max_array_items} items")
    if _NUL in body and not _depth_validator(limits.max_depth, no_nul=True).is_valid(data):
        raise InvalidNotification("a string or key holds a NUL character (\\u0000)")


def json_depth(body: bytes) -> int:
    """How deep the brackets of a JSON text nest (strings ignored); also for invalid JSON."""
    skeleton = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if not skeleton:
        return 0
    steps = skeleton.translate(_STEPS)
    return max(accumulate(1 if s else -1 for s in steps))


def longest_array(value: Any) -> int:
    """The length of the longest array anywhere in a parsed JSON value (iterative)."""
    longest, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            longest = max(longest, len(item))
            stack.extend(v for v in item if isinstance(v, list | dict))
        elif isinstance(item, dict):
            stack.extend(v for v in item.values() if isinstance(v, list | dict))
    return longest


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
