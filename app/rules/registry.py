"""The explicit registry of rule kinds: ``@register(...)`` adds one, a duplicate id fails at import.

A rule is a pure function ``check(facts, params) -> Iterable[Hit]``; the engine turns each
:class:`Hit` into a :class:`~app.domain.findings.Finding` with the rule's id, category and the
severity the rule sets chose. Rule ids are ``<category>.<name>`` (``coding.icd10-not-billable``).
``carc_expected`` lists the CARC codes the rule prevents (codes only: code -> category is ours, the
code texts are X12-licensed and never shipped).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from app.domain.findings import Category, Severity
from app.errors import FatalError

if TYPE_CHECKING:
    from app.rules.facts import ClaimFacts


class Hit(NamedTuple):
    """What a rule found: the engine adds rule id, category and severity."""

    message: str
    location: str
    source: str | None
    fix: str | None = None


Params = Mapping[str, Any]
Check = Callable[["ClaimFacts", Params], Iterable[Hit]]


class RegistryError(FatalError, RuntimeError):
    """A rule declared twice or declared badly: raised at import time, never at run time."""


@dataclass(frozen=True)
class RuleSpec:
    id: str
    category: Category
    severity: Severity
    summary: str
    fix: str
    check: Check
    carc_expected: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True


_ID = re.compile(r"^(?P<category>[a-z-]+)\.[a-z0-9]+(?:-[a-z0-9]+)*$")
_CARC = re.compile(r"^(?:[A-Z]?\d{1,3}|[A-Z]\d)$")
_RULES: dict[str, RuleSpec] = {}


def register(
    rule_id: str,
    *,
    category: Category,
    severity: Severity,
    summary: str,
    fix: str,
    carc: Iterable[str] = (),
    params: Mapping[str, Any] | None = None,
    enabled: bool = True,
) -> Callable[[Check], Check]:
    """Register ``check`` under ``rule_id``; raises :class:`RegistryError` on any inconsistency."""
    match = _ID.match(rule_id)
    if not match or match["category"] != category.value:
        raise RegistryError(f"rule id {rule_id!r} must be '<{category.value}>.<kebab-name>'")
    codes = tuple(carc)
    bad = [c for c in codes if not _CARC.match(c)]
    if bad:
        raise RegistryError(f"rule {rule_id}: not CARC codes: {bad}")

    def decorate(check: Check) -> Check:
        if rule_id in _RULES:
            raise RegistryError(f"rule {rule_id!r} registered twice")
        _RULES[rule_id] = RuleSpec(
            id=rule_id,
            category=category,
            severity=severity,
            summary=summary,
            fix=fix,
            check=check,
            carc_expected=codes,
            params=MappingProxyType(dict(params or {})),
            enabled=enabled,
        )
        return check

    return decorate


def registered() -> Mapping[str, RuleSpec]:
    """Every registered rule by id (import :mod:`app.rules.catalogue` first to fill it)."""
    return MappingProxyType(_RULES)
