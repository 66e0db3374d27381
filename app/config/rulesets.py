"""Rule-set files (``config/rules/*.yaml``): enable/disable rules, set severity and parameters.

One file may hold three sections, applied in this order (later wins)::

    global:                      # every claim
      timely-filing.deadline-near: {params: {warning_days: 45}}
    payers:                      # by payer id (the profile's payer_id)
      "60054":
        documentation.visit-note-missing: {params: {required: true}}
    sites:                       # by billing NPI, Organization/<id> or Location/<id>
      "1234567893":
        coding.modifier-25-missing: {severity: warning}
    holds:                       # which warnings hold a claim until acknowledged (app.rules.holds)
      global:
        coding.em-overcoded: true
      payers:
        "60054":
          documentation.visit-note-not-final: false

A hold may name a rule id or a mapper finding id (``app.mappers.issues``).

Everything is schema-checked at load: an unknown key, an unknown rule id, an unknown parameter or a
parameter of the wrong type is a :class:`ConfigError` naming file and line. The same rule set twice
for the same scope (in two files) is an error too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.config.yamlfile import LineMap, load_yaml, validate_data
from app.domain.findings import Severity
from app.errors import ConfigError
from app.rules.holds import HoldPolicy
from app.rules.registry import RuleSpec, registered
from app.rules.ruleset import RuleOverride, RuleSets

__all__ = ["RuleEntry", "RuleSetFile", "RuleSets", "load_rulesets"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleEntry(_Strict):
    enabled: bool | None = None
    severity: Severity | None = None
    params: dict[str, Any] = {}


class HoldsSection(_Strict):
    global_: dict[str, bool] = Field(default={}, alias="global")
    payers: dict[str, dict[str, bool]] = {}


class RuleSetFile(_Strict):
    description: str | None = None
    global_: dict[str, RuleEntry] = Field(default={}, alias="global")
    payers: dict[str, dict[str, RuleEntry]] = {}
    sites: dict[str, dict[str, RuleEntry]] = {}
    holds: HoldsSection = HoldsSection()


def _type_ok(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _check_entry(path: Path, lines: LineMap, where: tuple[str, ...], entry: RuleEntry) -> RuleOverride:
    rule_id = where[-1]
    spec: RuleSpec | None = registered().get(rule_id)
    if spec is None:
        raise ConfigError(path, lines.line_for(where), ".".join(where), f"unknown rule id {rule_id!r}")
    for name, value in entry.params.items():
        at = (*where, "params", name)
        if name not in spec.params:
            known = ", ".join(sorted(spec.params)) or "none"
            raise ConfigError(path, lines.line_for(at), ".".join(at), f"unknown parameter (known: {known})")
        if not _type_ok(spec.params[name], value):
            expected = type(spec.params[name]).__name__
            raise ConfigError(path, lines.line_for(at), ".".join(at), f"expected {expected}")
    return RuleOverride(enabled=entry.enabled, severity=entry.severity, params=dict(entry.params))


class _Merger:
    def __init__(self) -> None:
        self.global_layer: dict[str, RuleOverride] = {}
        self.payers: dict[str, dict[str, RuleOverride]] = {}
        self.sites: dict[str, dict[str, RuleOverride]] = {}
        self.origin: dict[tuple[str, ...], str] = {}
        self.holds_global: dict[str, bool] = {}
        self.holds_payers: dict[str, dict[str, bool]] = {}

    def add_holds(self, path: Path, lines: LineMap, holds: HoldsSection) -> None:
        from app.mappers.issues import MAPPER_RULES

        known = set(registered()) | set(MAPPER_RULES)
        entries: list[tuple[tuple[str, ...], bool]] = [(("holds", "global", r), v) for r, v in holds.global_.items()]
        entries += [(("holds", "payers", p, r), v) for p, rules in holds.payers.items() for r, v in rules.items()]
        for where, value in entries:
            if where[-1] not in known:
                raise ConfigError(path, lines.line_for(where), ".".join(where), f"unknown rule id {where[-1]!r}")
            if where in self.origin:
                raise ConfigError(path, lines.line_for(where), ".".join(where), f"already set in {self.origin[where]}")
            self.origin[where] = str(path)
            if where[1] == "global":
                self.holds_global[where[-1]] = value
            else:
                self.holds_payers.setdefault(where[2], {})[where[-1]] = value

    def add(self, path: Path, lines: LineMap, where: tuple[str, ...], entry: RuleEntry) -> None:
        override = _check_entry(path, lines, where, entry)
        if where in self.origin:
            raise ConfigError(path, lines.line_for(where), ".".join(where), f"already set in {self.origin[where]}")
        self.origin[where] = str(path)
        if where[0] == "global":
            self.global_layer[where[1]] = override
        else:
            target = self.payers if where[0] == "payers" else self.sites
            target.setdefault(where[1], {})[where[2]] = override

    def add_file(self, path: Path) -> None:
        data, lines = load_yaml(path)
        spec = validate_data(path, data if data is not None else {}, lines, RuleSetFile)
        for rule_id, entry in spec.global_.items():
            self.add(path, lines, ("global", rule_id), entry)
        for section, scopes in (("payers", spec.payers), ("sites", spec.sites)):
            for scope, rules in scopes.items():
                for rule_id, entry in rules.items():
                    self.add(path, lines, (section, scope, rule_id), entry)
        self.add_holds(path, lines, spec.holds)


def load_rulesets(directory: Path) -> RuleSets:
    """Read ``directory/rules/*.yaml`` (none: registry defaults only)."""
    import app.rules.catalogue  # noqa: F401  (fills the registry so rule ids can be checked)

    folder = directory / "rules"
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    merger = _Merger()
    for path in paths:
        merger.add_file(path)
    return RuleSets(
        global_layer=merger.global_layer,
        payers=merger.payers,
        sites=merger.sites,
        sources=tuple(str(p) for p in paths),
        holds=HoldPolicy(global_layer=merger.holds_global, payers=merger.holds_payers),
    )
