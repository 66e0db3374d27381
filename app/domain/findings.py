"""Findings: the stable, public result of mapping and rules (see ARCHITECTURE.md taxonomy)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["category"] = self.category.value
        data["severity"] = self.severity.value
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
        )


def blocks_submission(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
