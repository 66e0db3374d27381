"""Foreign Bundles: give id-less entries a stable id and turn in-Bundle references into ``Type/id``.

Transaction Bundles as US Core generators and many EHR exports write them carry resources without
``id``; other resources point at them by the entry's ``fullUrl`` (``urn:uuid:…``), or by a
conditional reference (``Patient?identifier=system|value``). Everything downstream (the encounter
context, the mirror, the rules) keys resources by ``Type/id``, so :func:`identify_entries` rewrites
such a Bundle into the shape an id-ful one has, before anything else reads it:

- an entry without a usable ``id`` gets one from its ``fullUrl`` (``urn:uuid:X`` / ``urn:oid:X`` →
  ``X``; ``…/Type/X`` → ``X``), else a content hash (``cb-`` + 20 hex digits); the same Bundle
  always yields the same ids, so a re-delivered Bundle maps to the same claim;
- every ``reference`` equal to an entry's ``fullUrl`` becomes that entry's ``Type/id``, and a
  conditional reference that matches exactly one entry's identifier becomes that entry's ``Type/id``
  (one that matches none or several is left as it is: it resolves to nothing, and the mapper reports
  what is then missing).

Inputs are never mutated: a resource that changes is copied. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

import orjson

Resource = dict[str, Any]
Entry = tuple[Resource, str | None]
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_CONDITIONAL = re.compile(r"^([A-Z][A-Za-z]+)\?identifier=([^&]*)$")


def _id_from_full_url(full_url: str | None) -> str | None:
    if not full_url:
        return None
    if full_url.startswith(("urn:uuid:", "urn:oid:")):
        tail = full_url.split(":", 2)[2]
    else:
        tail = full_url.rstrip("/").rsplit("/", 1)[-1]
    return tail if _ID.match(tail) else None


def _content_id(resource: Resource) -> str:
    blob = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
    return "cb-" + hashlib.sha256(blob).hexdigest()[:20]


def _needs_id(resource: Resource) -> bool:
    rid = resource.get("id")
    return not (isinstance(rid, str) and _ID.match(rid))


def _assign_ids(entries: list[Entry]) -> list[Entry]:
    taken = {f"{r.get('resourceType')}/{r['id']}" for r, _ in entries if not _needs_id(r)}
    out: list[Entry] = []
    for resource, full_url in entries:
        if _needs_id(resource):
            base = _id_from_full_url(full_url) or _content_id(resource)
            rid, n = base, 1
            while f"{resource.get('resourceType')}/{rid}" in taken:
                n += 1
                rid = f"{base[:60]}-{n}"
            taken.add(f"{resource.get('resourceType')}/{rid}")
            resource = {**resource, "id": rid}
        out.append((resource, full_url))
    return out


def _identifier_index(entries: list[Entry]) -> dict[str, list[str]]:
    """``Type?identifier=system|value`` (and ``Type?identifier=value``) -> keys of the entries."""
    index: dict[str, list[str]] = {}
    for resource, _ in entries:
        rtype, key = resource.get("resourceType"), f"{resource.get('resourceType')}/{resource['id']}"
        for ident in resource.get("identifier") or ():
            if not isinstance(ident, dict) or not isinstance(ident.get("value"), str):
                continue
            forms = [ident["value"]]
            if isinstance(ident.get("system"), str):
                forms.append(f"{ident['system']}|{ident['value']}")
            for form in forms:
                index.setdefault(f"{rtype}?identifier={form}", []).append(key)
    return index


def _aliases(entries: list[Entry]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for resource, full_url in entries:
        if full_url:
            aliases[full_url] = f"{resource.get('resourceType')}/{resource['id']}"
    return aliases


def _rewrite(value: Any, target: dict[str, str], conditional: dict[str, list[str]]) -> tuple[Any, bool]:
    """``value`` with references rewritten, and whether anything changed (unchanged parts are shared)."""
    if isinstance(value, list):
        items = [_rewrite(v, target, conditional) for v in value]
        return ([v for v, _ in items], True) if any(c for _, c in items) else (value, False)
    if not isinstance(value, dict):
        return value, False
    changed, out = False, {}
    for key, child in value.items():
        if key == "reference" and isinstance(child, str):
            new = _target_of(child, target, conditional)
            out[key], changed = (new, True) if new is not None else (child, changed)
        elif isinstance(child, dict | list):
            out[key], child_changed = _rewrite(child, target, conditional)
            changed = changed or child_changed
        else:
            out[key] = child
    return (out, True) if changed else (value, False)


def _target_of(reference: str, target: dict[str, str], conditional: dict[str, list[str]]) -> str | None:
    if reference in target:
        return target[reference]
    match = _CONDITIONAL.match(reference)
    if match:
        found = conditional.get(f"{match.group(1)}?identifier={match.group(2)}", [])
        return found[0] if len(found) == 1 else None
    return None


def _is_foreign(entries: list[Entry]) -> bool:
    return any(_needs_id(resource) or (full_url or "").startswith("urn:") for resource, full_url in entries)


def identify_entries(entries: Iterable[Entry]) -> list[Entry]:
    """``(resource, fullUrl)`` pairs with every resource id-ful and in-Bundle references as ``Type/id``.

    A Bundle whose resources all have ids and whose fullUrls are not ``urn:`` is returned as is
    (the common case costs one pass); otherwise see the module docstring.
    """
    items = list(entries)
    if not _is_foreign(items):
        return items
    items = _assign_ids(items)
    target, conditional = _aliases(items), _identifier_index(items)
    out: list[Entry] = []
    for resource, full_url in items:
        new, _ = _rewrite(resource, target, conditional)
        out.append((new, full_url))
    return out
