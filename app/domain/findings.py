"""Findings: the stable, public result of mapping and rules (see ARCHITECTURE.md taxonomy)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    MISSING_DATA = "missing-data"
    ELIGIBILITY = "eligibility"
    PRIOR_AUTH = "prior-auth"
    CODING = "coding"
    DUPLICATE = "duplicate"
    DOCUMENTATION = "documentation"
    TIMELY_FILING = "timely-filing"
    CHARGE_CAPTURE = "charge-capture"
    UNDERCODING = "undercoding"


class Severity(StrEnum):
    ERROR = "error"  # blocks submission
    WARNING = "warning"  # routes to a work queue
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found on a claim. ``location`` is a FHIRPath into the Claim or source resource."""

    rule: str
    category: Category
    severity: Severity
    message: str
    location: str
    source: str | None
    fix: str
    hold: bool = False  # a non-error finding the rule sets hold the claim for, until acknowledged

    def to_dict(self) -> dict[str, Any]:
        """The fields in order (what ``dataclasses.asdict`` gives, without its deep copy: every
        field is a scalar), the enums as their values; ``hold`` absent unless set, so stored
        fingerprints of findings stay what they were."""
        data: dict[str, Any] = {
            "rule": self.rule,
            "category": self.category.value,
            "severity": self.severity.value,
            "message": self.message,
            "location": self.location,
            "source": self.source,
            "fix": self.fix,
        }
        if self.hold:
            data["hold"] = self.hold
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule=data["rule"],
            category=Category(data["category"]),
            severity=Severity(data["severity"]),
            message=data["message"],
            location=data.get("location", ""),
            source=data.get("source"),
            fix=data.get("fix", ""),
            hold=bool(data.get("hold", False)),
        )


def blocks_submission(findings: list[Finding]) -> bool:
    """An error, or a finding held by the rule sets (:mod:`app.rules.holds`), keeps the claim from going out."""
    return any(f.severity is Severity.ERROR or f.hold for f in findings)
