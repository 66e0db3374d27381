"""Charge capture: every done order of the encounter becomes a charge line, or a finding.

A ServiceRequest the mapping calls billable (by default: status completed, not a referral) maps its
code through the code tables to CPT/HCPCS; a MedicationRequest administered in the office maps its
RxNorm code to a HCPCS J-code (or a CPT vaccine code) with units = ⌈dose ÷ the code's billing
unit⌉ and the NDC (with the administered amount) as the line's one ``detail``. An order that maps
to nothing is a ``charge-capture`` warning; it is never silently dropped. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from app.domain.context import EncounterContext, key_of
from app.domain.findings import Finding
from app.mappers.issues import make_finding
from app.mappers.spec import MappingSet
from app.mappers.tables import MappedCode

UCUM = "http://unitsofmeasure.org"
# Mass units the dose may come in, in milligrams.
_MG_PER = {"mg": Decimal(1), "g": Decimal(1000), "ug": Decimal("0.001"), "mcg": Decimal("0.001")}


@dataclass(frozen=True)
class Line:
    """A charge line before pricing."""

    code: MappedCode
    quantity: Decimal
    source: str  # Type/id of the order (or the E/M source)
    location: str  # FHIRPath of the code in the source resource
    modifiers: tuple[str, ...] = ()
    date: str | None = None
    requester: Any = None
    reason_refs: tuple[Any, ...] = ()
    reason_codes: tuple[str, ...] = ()
    ndc_amount: dict[str, Any] | None = None  # the NDC detail's quantity (drugs)
    waste_units: Decimal | None = None  # single-dose drugs: billing units discarded (0: none, JZ)
    performer: Any = None  # who performed it, when recorded (line rendering provider if it differs)
    links: tuple[str, ...] = ()  # Type/id of resources this line says it is the same service as
    charge: Decimal | None = None  # an honoured price override: the line's total charge
    factor: Decimal | None = None  # an honoured factor override of the charge-master price


def _order_label(resource: dict[str, Any], element: str) -> str:
    concept = resource.get(element)
    if not isinstance(concept, dict):
        return "(uncoded)"
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict) and coding.get("code"):
            return f"{coding.get('system', '(no system)')}|{coding['code']}"
    return str(concept.get("text") or "(uncoded)")


def order_lines(ctx: EncounterContext, spec: MappingSet) -> tuple[list[Line], list[Finding], bool]:
    """Lines from completed ServiceRequests; also whether any billable order was seen."""
    lines: list[Line] = []
    findings: list[Finding] = []
    seen = False
    for order in sorted(ctx.linked("ServiceRequest"), key=key_of):
        if not spec.flag("service_request.billable", order) or spec.flag("service_request.referral", order):
            continue
        seen = True
        code = spec.one("service_request.code", order)
        if not isinstance(code, MappedCode):
            findings.append(unmapped("charge-capture.unmapped-order", order, "code"))
            continue
        quantity = spec.one("service_request.quantity", order)
        lines.append(
            Line(
                code=code,
                quantity=quantity if isinstance(quantity, Decimal) and quantity > 0 else Decimal(1),
                source=key_of(order),
                location="ServiceRequest.code",
                modifiers=modifiers_of(code, spec.values("service_request.modifiers", order)),
                date=spec.one("service_request.date", order),
                requester=spec.one("service_request.requester", order),
                reason_refs=tuple(spec.values("service_request.reason_refs", order)),
                reason_codes=tuple(c for c in spec.values("service_request.reason_codes", order) if isinstance(c, str)),
            )
        )
    return lines, findings, seen


def modifiers_of(code: MappedCode, extra: list[Any]) -> tuple[str, ...]:
    found = [*code.entry.modifiers, *(m.code if isinstance(m, MappedCode) else m for m in extra)]
    return tuple(dict.fromkeys(m for m in found if isinstance(m, str)))[:4]


def unmapped(rule: str, order: dict[str, Any], element: str) -> Finding:
    key = key_of(order)
    label = _order_label(order, element)
    return make_finding(
        rule,
        message=f"{key} ({label}) was done but maps to no billable code",
        location=f"{order.get('resourceType')}.{element}",
        source=key,
    )


def drug_lines(ctx: EncounterContext, spec: MappingSet) -> tuple[list[Line], list[Finding], bool]:
    """Lines from MedicationRequests administered in the office; also whether any was seen."""
    lines: list[Line] = []
    findings: list[Finding] = []
    seen = False
    for order in sorted(ctx.linked("MedicationRequest"), key=key_of):
        if not spec.flag("medication_request.in_office", order):
            continue
        seen = True
        code = _drug_code(ctx, spec, order)
        if code is None:
            findings.append(unmapped("charge-capture.unmapped-drug", order, "medicationCodeableConcept"))
            continue
        units, amount, problem = drug_units(code, spec.one("medication_request.dose", order))
        if problem:
            findings.append(
                make_finding(
                    "missing-data.drug-dose",
                    message=f"{key_of(order)}: {problem}; billed as 1 unit of {code.code}",
                    location="MedicationRequest.dosageInstruction.doseAndRate.doseQuantity",
                    source=key_of(order),
                )
            )
        lines.append(
            Line(
                code=code,
                quantity=units,
                source=key_of(order),
                location="MedicationRequest.medicationCodeableConcept",
                modifiers=code.entry.modifiers,
                requester=spec.one("medication_request.requester", order),
                reason_refs=tuple(spec.values("medication_request.reason_refs", order)),
                reason_codes=tuple(
                    c for c in spec.values("medication_request.reason_codes", order) if isinstance(c, str)
                ),
                ndc_amount=package_quantity(code, amount) or amount,
                waste_units=waste_units(code, amount, units),
            )
        )
    return lines, findings, seen


_UCUM_OF_NDC_UNIT = {"UN": "{package}", "ML": "mL", "GR": "g", "F2": "[iU]"}


def _dose_in(code: MappedCode, amount: dict[str, Any] | None) -> Decimal | None:
    """The administered amount in the code's ``per_unit`` (mg), or None when it cannot be converted."""
    if amount is None or code.entry.per_unit not in _MG_PER:
        return None
    factor = _MG_PER.get(str(amount.get("code")))
    if factor is None:
        return None
    return Decimal(str(amount["value"])) * factor / _MG_PER[code.entry.per_unit or "mg"]


def package_quantity(code: MappedCode, amount: dict[str, Any] | None) -> dict[str, Any] | None:
    """The NDC quantity in the drug's package billing unit (837P CTP04/CTP05), from its NDC data.

    ``ndc_unit`` ML with ``ndc_size`` 40 (mg per mL): 80 mg is 2 ML; UN with ``ndc_size`` 1000 (mg
    per vial): 1000 mg is 1 UN (whole packages, rounded up). A dose already in mL on an ML NDC is
    sent as it is. None when the table gives no NDC unit or the dose cannot be converted."""
    unit = code.entry.ndc_unit
    if unit is None or amount is None:
        return None
    if unit == "ML" and amount.get("code") == "mL":
        value = Decimal(str(amount["value"]))
    else:
        dose, size = _dose_in(code, amount), code.entry.ndc_size
        if dose is None or size is None:
            return None
        value = dose / size
        value = value.to_integral_value(rounding=ROUND_CEILING) if unit == "UN" else value.quantize(Decimal("0.001"))
    ucum = _UCUM_OF_NDC_UNIT[unit]
    return {"value": _json_number(value), "unit": unit, "system": UCUM, "code": ucum}


def waste_units(code: MappedCode, amount: dict[str, Any] | None, units: Decimal) -> Decimal | None:
    """Billing units discarded from single-dose containers (JW), 0 when none (JZ); None: not single-dose."""
    container, per = code.entry.single_dose, code.entry.per
    dose = _dose_in(code, amount)
    if container is None or per is None or dose is None:
        return None
    opened = (dose / container).to_integral_value(rounding=ROUND_CEILING) * container
    return ((opened - dose) / per).to_integral_value(rounding=ROUND_CEILING) if opened > dose else Decimal(0)


def _drug_code(ctx: EncounterContext, spec: MappingSet, order: dict[str, Any]) -> MappedCode | None:
    code = spec.one("medication_request.code", order)
    if isinstance(code, MappedCode):
        return code
    medication = ctx.resolve(spec.one("medication_request.medication", order))
    found = spec.one("medication.code", medication) if medication else None
    return found if isinstance(found, MappedCode) else None


def drug_units(code: MappedCode, dose: Any) -> tuple[Decimal, dict[str, Any] | None, str | None]:
    """Billing units, the NDC detail quantity, and a problem (None when the dose was usable).

    No billing unit on the code (a vaccine, billed per administration): 1 unit. Otherwise the dose
    in mg (converted from g/mcg) ÷ the billing unit, rounded up: 1 g ceftriaxone at J0696 (per
    250 mg) is 4 units. The NDC quantity is the administered amount in the dose's unit.
    """
    value = dose.get("value") if isinstance(dose, dict) else None
    unit = str(dose.get("code") or dose.get("unit") or "") if isinstance(dose, dict) else ""
    amount = None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool) and value > 0:
        amount = {"value": _json_number(Decimal(str(value))), "unit": unit, "system": UCUM, "code": unit}
    per = code.entry.per
    if per is None:
        return Decimal(1), amount, None
    if amount is None:
        return Decimal(1), None, "no usable dose"
    per_mg = per * _MG_PER.get(code.entry.per_unit or "mg", Decimal(1))
    factor = _MG_PER.get(unit)
    if factor is None:
        return Decimal(1), amount, f"dose unit {unit or '(none)'} cannot be converted to mg"
    units = (Decimal(str(value)) * factor / per_mg).to_integral_value(rounding=ROUND_CEILING)
    return max(units, Decimal(1)), amount, None


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
