"""What a SMART token grant covers: requested ``system/`` scopes checked against the granted ones. Pure.

A requested scope ``system/Task.crus`` is covered when the ``system/`` scopes granted for ``Task`` or
``*`` hold every one of its letters together (``system/*.rs`` + ``system/Task.cu`` cover it). SMART v1
forms count as their v2 letters (``read`` = ``rs``, ``write`` = ``cud``, ``*`` = ``cruds``). A granted
scope narrowed by a query (``system/Observation.rs?category=laboratory``) covers no unqualified request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

V1_LETTERS = {"read": "rs", "write": "cud", "*": "cruds"}


def parse_scope(scope: str) -> tuple[str, str, str] | None:
    """``(context, resource type or *, access letters)`` of a resource scope, or None (e.g. ``launch``)."""
    context, slash, rest = scope.partition("/")
    resource_type, dot, access = rest.partition(".")
    if not slash or not dot or not resource_type or "?" in access:
        return None
    letters = V1_LETTERS.get(access, access)
    if not letters or any(letter not in "cruds" for letter in letters):
        return None
    return context, resource_type, letters


def missing_scopes(requested: Sequence[str], granted: str | Iterable[str] | None) -> tuple[str, ...]:
    """The requested scopes the grant does not cover (none when the grant did not say: RFC 6749 §5.1)."""
    if granted is None:
        return ()
    parsed = [p for p in (parse_scope(s) for s in (granted.split() if isinstance(granted, str) else granted)) if p]
    out = []
    for scope in requested:
        wanted = parse_scope(scope)
        if wanted is None:
            continue
        context, resource_type, letters = wanted
        have = {
            letter
            for ctx, rtype, access in parsed
            if ctx == context and rtype in (resource_type, "*")
            for letter in access
        }
        if not set(letters) <= have:
            out.append(scope)
    return tuple(out)
