"""Search interaction of the test EHR: matching, ``_include``/``_revinclude`` and paging.

Paging is stateless: the ``next`` link repeats the query with ``_offset`` advanced by ``_count``
(default 50, at most 200). Included resources are added per page with ``search.mode = include``
and are not counted in ``_count`` or ``total``, as on common servers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from tests.ehr.store import SearchError, Store, check_params, includes, matches, revincludes

DEFAULT_COUNT = 50
MAX_COUNT = 200
CONTROL = {"_count", "_offset", "_include", "_revinclude"}


def search(store: Store, base_url: str, resource_type: str, query: list[tuple[str, str]]) -> dict[str, Any]:
    """A searchset Bundle for one page of ``resource_type?query``."""
    count = _int(query, "_count", DEFAULT_COUNT, upper=MAX_COUNT)
    offset = _int(query, "_offset", 0, upper=None)
    criteria = [(name, value) for name, value in query if name not in CONTROL]
    check_params(resource_type, criteria)
    for spec in _values(query, "_include") + _values(query, "_revinclude"):
        includes(store, [], [spec])  # refuses unknown Type:param before any data is read
    hits = sorted(
        (r for r in store.all_of(resource_type) if matches(r, criteria)),
        key=lambda r: (r["meta"]["lastUpdated"], r["id"]),
    )
    page = hits[offset : offset + count]
    extra = includes(store, page, _values(query, "_include"))
    extra += revincludes(store, page, _values(query, "_revinclude"))
    entries = [_entry(base_url, r, "match") for r in page]
    seen = {f"{r['resourceType']}/{r['id']}" for r in page}
    for resource in extra:
        key = f"{resource['resourceType']}/{resource['id']}"
        if key not in seen:
            seen.add(key)
            entries.append(_entry(base_url, resource, "include"))
    kept = [(n, v) for n, v in query if n != "_offset"]
    links = [{"relation": "self", "url": _url(base_url, resource_type, [*kept, ("_offset", str(offset))])}]
    if offset + count < len(hits):
        links.append(
            {"relation": "next", "url": _url(base_url, resource_type, [*kept, ("_offset", str(offset + count))])}
        )
    return {"resourceType": "Bundle", "type": "searchset", "total": len(hits), "link": links, "entry": entries}


def conditional_matches(store: Store, resource_type: str, condition: str) -> list[dict[str, Any]]:
    """Current resources matching an ``If-None-Exist`` query string."""
    criteria = parse_qsl(condition, keep_blank_values=True)
    if not criteria:
        raise SearchError("empty If-None-Exist")
    check_params(resource_type, criteria)
    return [r for r in store.all_of(resource_type) if matches(r, criteria)]


def _entry(base_url: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def _url(base_url: str, resource_type: str, query: list[tuple[str, str]]) -> str:
    return f"{base_url}/{resource_type}?{urlencode(query)}"


def _values(query: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in query if key == name]


def _int(query: list[tuple[str, str]], name: str, default: int, *, upper: int | None) -> int:
    values = _values(query, name)
    if not values:
        return default
    try:
        number = int(values[-1])
    except ValueError as exc:
        raise SearchError(f"{name} must be an integer") from exc
    if number < 0 or (name == "_count" and number == 0):
        raise SearchError(f"{name} out of range")
    return min(number, upper) if upper else number
