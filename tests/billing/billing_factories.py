"""Hand-built inputs for the billing tests: 835 claim payments, findings, bundles merged from the examples."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.domain.findings import Category, Finding, Severity
from app.x12 import Adjustment, ClaimPayment, ServicePayment

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
X12_FIXTURES = ROOT / "tests" / "fixtures" / "x12"
EXAMPLES = ROOT / "examples" / "bundles"


def money(value: str | int | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def adj(group: str, reason: str, amount: str | int) -> Adjustment:
    return Adjustment(group, reason, Decimal(str(amount)))


def line(
    code: str = "99213",
    charge: str | int = 100,
    paid: str | int | None = 80,
    *adjustments: Adjustment,
    modifiers: tuple[str, ...] = (),
    units: str | int | None = None,
    allowed: str | int | None = None,
    service_date: str = "20261005",
    original: str = "",
) -> ServicePayment:
    return ServicePayment(
        qualifier="HC",
        procedure=code,
        modifiers=modifiers,
        charge=money(charge),
        paid=money(paid),
        units=money(units),
        original_procedure=original,
        service_date=service_date,
        allowed=money(allowed),
        adjustments=list(adjustments),
    )


def payment(
    pcn: str = "PCN0001",
    *lines: ServicePayment,
    status: str = "1",
    paid: str | int | None = None,
    adjustments: tuple[Adjustment, ...] = (),
    remarks: tuple[str, ...] = (),
) -> ClaimPayment:
    charge = sum((ln.charge or Decimal(0) for ln in lines), Decimal(0))
    total_paid = money(paid) if paid is not None else sum((ln.paid or Decimal(0) for ln in lines), Decimal(0))
    return ClaimPayment(
        patient_control_number=pcn,
        status=status,
        charge=charge,
        paid=total_paid,
        patient_responsibility=None,
        payer_claim_control_number=f"ICN-{pcn}",
        statement_from="20261005",
        adjustments=list(adjustments),
        remark_codes=list(remarks),
        lines=list(lines),
    )


def finding(rule: str, category: Category, severity: Severity = Severity.WARNING) -> Finding:
    return Finding(rule, category, severity, f"{rule} fired", "Claim.item[0]", None, "fix it")


def merged_bundle(numbers: list[str], path: Path) -> Path:
    """One collection Bundle of the example encounters ``numbers`` (entries deduplicated by Type/id)."""
    seen: dict[str, dict[str, Any]] = {}
    for number in numbers:
        bundle = json.loads((EXAMPLES / f"encounter-{number}.json").read_text())
        for entry in bundle["entry"]:
            resource = entry["resource"]
            seen.setdefault(f"{resource['resourceType']}/{resource['id']}", entry)
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": list(seen.values())}))
    return path
