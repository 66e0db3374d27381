"""Which findings hold a claim: a per-rule, per-payer setting with safe defaults (pure).

An error always blocks submission. A warning (or info) finding **holds** the claim when the rule
sets say so for its rule and payer: the claim stays ``held`` until someone acknowledges the
finding (``POST /admin/claims/{id}/findings/{finding}/override`` with a reason), exactly like an
error override. The finding records it (``hold: true`` on the finding row and in the API), so the
claim shows why it did not go out.

Defaults (:data:`DEFAULT_HOLDS`) hold three warnings a payer would deny or an auditor would take
back: an E/M level the documented time and MDM do not support (a 99215 for 12 minutes,
``coding.em-overcoded``), a new-patient code for an established patient
(``coding.em-patient-category``), and a visit note that is not signed / final
(``documentation.visit-note-not-final``). The rule-set files change them (``holds:`` section,
global then per payer; later wins), for mapper findings as well as rule findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from app.domain.findings import Finding, Severity

DEFAULT_HOLDS: Mapping[str, bool] = MappingProxyType(
    {
        "coding.em-overcoded": True,
        "coding.em-patient-category": True,
        "documentation.visit-note-not-final": True,
    }
)


@dataclass(frozen=True)
class HoldPolicy:
    global_layer: Mapping[str, bool] = field(default_factory=dict)
    payers: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)

    def holds(self, rule: str, payer_id: str | None) -> bool:
        """Whether a non-error finding of ``rule`` holds a claim for ``payer_id`` (payer, then global, then default)."""
        for layer in (self.payers.get(payer_id or "", {}), self.global_layer, DEFAULT_HOLDS):
            if rule in layer:
                return layer[rule]
        return False

    def apply(self, findings: Iterable[Finding], payer_id: str | None) -> list[Finding]:
        """The findings with ``hold`` set where the policy holds them (errors block anyway)."""
        return [
            replace(f, hold=True) if f.severity is not Severity.ERROR and self.holds(f.rule, payer_id) else f
            for f in findings
        ]
