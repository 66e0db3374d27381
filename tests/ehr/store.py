"""Versioned in-memory resource store and the small search engine of the test EHR.

Every write makes a new version (``meta.versionId`` 1, 2, … and ``meta.lastUpdated`` from the
server clock); deleted resources answer 410. Search supports ``_id`` (comma list), ``_lastUpdated``
(``gt``/``ge``/``lt``/``le``/``eq`` prefixes), ``identifier`` (``system|value``) and the reference
and token parameters in :data:`SEARCH_PARAMS`; unknown parameters are refused (strict handling), so
a client asking for something the server does not support finds out.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Resource = dict[str, Any]

# (resource type, search parameter) -> (element path, kind)
SEARCH_PARAMS: dict[tuple[str, str], tuple[str, str]] = {
    ("Encounter", "patient"): ("subject", "reference"),
    ("Encounter", "subject"): ("subject", "reference"),
    ("Encounter", "participant"): ("participant.individual", "reference"),
    ("Encounter", "service-provider"): ("serviceProvider", "reference"),
    ("Encounter", "status"): ("status", "token"),
    ("Coverage", "beneficiary"): ("beneficiary", "reference"),
    ("Coverage", "patient"): ("beneficiary", "reference"),
    ("Coverage", "payor"): ("payor", "reference"),
    ("Coverage", "status"): ("status", "token"),
    ("Subscription", "status"): ("status", "token"),
    ("Basic", "code"): ("code.coding.code", "token"),
}
for _type in ("ServiceRequest", "MedicationRequest", "Condition"):
    SEARCH_PARAMS[(_type, "encounter")] = ("encounter", "reference")
    SEARCH_PARAMS[(_type, "patient")] = ("subject", "reference")
    SEARCH_PARAMS[(_type, "subject")] = ("subject", "reference")
for _type in ("ServiceRequest", "MedicationRequest", "ChargeItem", "Procedure"):
    SEARCH_PARAMS[(_type, "status")] = ("status", "token")
SEARCH_PARAMS[("Procedure", "encounter")] = ("encounter", "reference")
SEARCH_PARAMS[("ChargeItem", "context")] = ("context", "reference")
for _type in ("ChargeItem", "Procedure"):
    SEARCH_PARAMS[(_type, "patient")] = ("subject", "reference")
    SEARCH_PARAMS[(_type, "subject")] = ("subject", "reference")


class SearchError(ValueError):
    """A search the test EHR does not support (answered 400)."""


class Gone(LookupError):
    """The resource was deleted (answered 410)."""


def instant(epoch: float) -> str:
    """An R4 instant (UTC, milliseconds) for a clock value."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def values_at(resource: Resource, path: str) -> list[Any]:
    """Values at a dotted element path, flattening lists."""
    current: list[Any] = [resource]
    for step in path.split("."):
        nxt: list[Any] = []
        for item in current:
            value = item.get(step) if isinstance(item, dict) else None
            nxt.extend(value if isinstance(value, list) else [] if value is None else [value])
        current = nxt
    return current


def ref_key(reference: str) -> str:
    """``Type/id`` of a literal reference (drops the base URL and any ``_history``)."""
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:])


@dataclass
class Store:
    """All resources, every version, keyed by ``Type/id``."""

    clock: Callable[[], float]
    versions: dict[str, list[Resource]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, resource_type: str) -> str:
        return f"{resource_type.lower()}-{next(self._ids)}"

    def write(self, resource: Resource) -> tuple[Resource, bool]:
        """Store a new version (assigning an id if missing); returns (stored copy, created)."""
        stored = copy.deepcopy(resource)
        if not stored.get("id"):
            stored["id"] = self.new_id(stored["resourceType"])
        key = f"{stored['resourceType']}/{stored['id']}"
        history = self.versions.setdefault(key, [])
        self.deleted.discard(key)
        meta = dict(stored.get("meta") or {})
        meta.update({"versionId": str(len(history) + 1), "lastUpdated": instant(self.clock())})
        stored["meta"] = meta
        history.append(stored)
        return copy.deepcopy(stored), len(history) == 1

    def current(self, resource_type: str, resource_id: str) -> Resource | None:
        key = f"{resource_type}/{resource_id}"
        if key in self.deleted:
            raise Gone(key)
        history = self.versions.get(key)
        return copy.deepcopy(history[-1]) if history else None

    def version(self, resource_type: str, resource_id: str, version_id: str) -> Resource | None:
        for resource in self.versions.get(f"{resource_type}/{resource_id}", ()):
            if resource["meta"]["versionId"] == version_id:
                return copy.deepcopy(resource)
        return None

    def delete(self, resource_type: str, resource_id: str) -> None:
        self.deleted.add(f"{resource_type}/{resource_id}")

    def all_of(self, resource_type: str) -> list[Resource]:
        out = []
        for key, history in self.versions.items():
            if key.startswith(f"{resource_type}/") and key not in self.deleted:
                out.append(history[-1])
        return out

    def by_key(self, key: str) -> Resource | None:
        history = self.versions.get(key)
        return history[-1] if history and key not in self.deleted else None


def check_params(resource_type: str, params: list[tuple[str, str]]) -> None:
    """Refuse search parameters this server does not support, before looking at any data."""
    for name, _value in params:
        if name not in ("_id", "_lastUpdated", "identifier") and (resource_type, name) not in SEARCH_PARAMS:
            raise SearchError(f"unsupported search parameter {resource_type}:{name}")


def matches(resource: Resource, params: list[tuple[str, str]]) -> bool:
    """True when ``resource`` satisfies every (name, value) search parameter (AND; commas are OR)."""
    return all(_matches_one(resource, name, value) for name, value in params)


def _matches_one(resource: Resource, name: str, value: str) -> bool:
    alternatives = value.split(",")
    if name == "_id":
        return resource.get("id") in alternatives
    if name == "_lastUpdated":
        return _compare_instant(resource["meta"]["lastUpdated"], value)
    if name == "identifier":
        return any(_identifier_match(i, alt) for i in resource.get("identifier") or () for alt in alternatives)
    spec = SEARCH_PARAMS.get((resource["resourceType"], name))
    if spec is None:
        raise SearchError(f"unsupported search parameter {resource['resourceType']}:{name}")
    path, kind = spec
    found = values_at(resource, path)
    if kind == "token":
        return any(str(v) == alt.split("|")[-1] for v in found for alt in alternatives)
    keys = {ref_key(v["reference"]) for v in found if isinstance(v, dict) and v.get("reference")}
    return any(_reference_match(keys, alt) for alt in alternatives)


def _reference_match(keys: set[str], wanted: str) -> bool:
    if "/" in wanted:
        return ref_key(wanted) in keys
    return any(key.endswith(f"/{wanted}") for key in keys)


def _identifier_match(identifier: dict[str, Any], wanted: str) -> bool:
    system, sep, value = wanted.rpartition("|")
    if not sep:
        return identifier.get("value") == value
    return identifier.get("system") == system and identifier.get("value") == value


def _compare_instant(stored: str, expression: str) -> bool:
    prefix, moment = (expression[:2], expression[2:]) if expression[:2].isalpha() else ("eq", expression)
    left = datetime.fromisoformat(stored.replace("Z", "+00:00"))
    right = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if right.tzinfo is None:
        right = right.replace(tzinfo=UTC)
    ops: dict[str, Callable[[datetime, datetime], bool]] = {
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
        "eq": lambda a, b: a == b,
    }
    if prefix not in ops:
        raise SearchError(f"unsupported _lastUpdated prefix {prefix!r}")
    return ops[prefix](left, right)


def includes(store: Store, matched: list[Resource], specs: list[str]) -> list[Resource]:
    """Resources pointed at by ``matched`` through ``_include=Type:param`` specs."""
    out: dict[str, Resource] = {}
    for spec in specs:
        source_type, _, param = spec.partition(":")
        path = _reference_path(source_type, param)
        for resource in matched:
            if resource["resourceType"] != source_type:
                continue
            for ref in values_at(resource, path):
                key = ref_key(ref.get("reference", "")) if isinstance(ref, dict) else ""
                target = store.by_key(key)
                if target is not None:
                    out[key] = target
    return list(out.values())


def revincludes(store: Store, matched: list[Resource], specs: list[str]) -> list[Resource]:
    """Resources pointing at ``matched`` through ``_revinclude=Type:param`` specs."""
    targets = {f"{r['resourceType']}/{r['id']}" for r in matched}
    out: dict[str, Resource] = {}
    for spec in specs:
        source_type, _, param = spec.partition(":")
        path = _reference_path(source_type, param)
        for candidate in store.all_of(source_type):
            refs = {
                ref_key(v["reference"])
                for v in values_at(candidate, path)
                if isinstance(v, dict) and v.get("reference")
            }
            if refs & targets:
                out[f"{source_type}/{candidate['id']}"] = candidate
    return list(out.values())


def _reference_path(resource_type: str, param: str) -> str:
    spec = SEARCH_PARAMS.get((resource_type, param))
    if spec is None or spec[1] != "reference":
        raise SearchError(f"unsupported include {resource_type}:{param}")
    return spec[0]
