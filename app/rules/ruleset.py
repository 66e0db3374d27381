"""Rule sets: which rules run, at what severity and with which parameters, per payer and site.

Overrides stack global -> payer -> site (later wins; ``params`` merge key by key). The resolved
plan for a (payer, sites) pair is computed once and cached, so the per-claim cost is a dict lookup.
Files are loaded and schema-checked by :func:`app.config.rulesets.load_rulesets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from app.domain.findings import Category, Severity
from app.rules.holds import HoldPolicy
from app.rules.registry import Check, RuleSpec, registered


@dataclass(frozen=True)
class RuleOverride:
    enabled: bool | None = None
    severity: Severity | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


Layer = Mapping[str, RuleOverride]  # rule id -> override


@dataclass(frozen=True, slots=True)
class PlannedRule:
    id: str
    category: Category
    severity: Severity
    fix: str
    params: Mapping[str, Any]
    check: Check


@dataclass
class RuleSets:
    """Global, per-payer and per-site overrides over the registry defaults."""

    global_layer: Layer = field(default_factory=dict)
    payers: Mapping[str, Layer] = field(default_factory=dict)
    sites: Mapping[str, Layer] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    holds: HoldPolicy = field(default_factory=HoldPolicy)  # which non-error findings hold a claim
    _plans: dict[tuple[str | None, tuple[str, ...]], tuple[PlannedRule, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def plan_for(self, payer_id: str | None, site_keys: tuple[str, ...] = ()) -> tuple[PlannedRule, ...]:
        """The enabled rules, in id order, for a payer and the site keys that apply."""
        sites = tuple([k for k in site_keys if k in self.sites]) if self.sites else ()
        key = (payer_id if payer_id in self.payers else None, sites)
        plan = self._plans.get(key)
        if plan is None:
            layers = [self.global_layer]
            if key[0] is not None:
                layers.append(self.payers[key[0]])
            layers.extend(self.sites[s] for s in sites)
            plan = tuple(p for spec in _specs() if (p := _plan_one(spec, layers)) is not None)
            self._plans[key] = plan
        return plan


def _specs() -> list[RuleSpec]:
    import app.rules.catalogue  # noqa: F401  (fills the registry)

    return [spec for _, spec in sorted(registered().items())]


def _plan_one(spec: RuleSpec, layers: list[Layer]) -> PlannedRule | None:
    enabled, severity, params = spec.enabled, spec.severity, dict(spec.params)
    for layer in layers:
        override = layer.get(spec.id)
        if override is None:
            continue
        if override.enabled is not None:
            enabled = override.enabled
        if override.severity is not None:
            severity = override.severity
        params.update(override.params)
    if not enabled:
        return None
    return PlannedRule(spec.id, spec.category, severity, spec.fix, MappingProxyType(params), spec.check)
