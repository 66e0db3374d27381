"""The closed registry of findings the mapper itself raises, with their stable ids and fix hints.

Mapping reports what it cannot build (missing essentials, unmapped or unpriced orders) and what the
E/M calculator disagrees with; everything else is the rules engine's business. :func:`make_finding`
refuses an id that is not registered here, so a typo fails the first test that reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.findings import Category, Finding, Severity

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
MISSING, CAPTURE, CODING = Category.MISSING_DATA, Category.CHARGE_CAPTURE, Category.CODING


@dataclass(frozen=True)
class RuleDef:
    category: Category
    severity: Severity
    fix: str


MAPPER_RULES: dict[str, RuleDef] = {
    "missing-data.no-patient": RuleDef(MISSING, E, "Link the Encounter to its Patient (Encounter.subject)."),
    "missing-data.no-coverage": RuleDef(
        MISSING, E, "Record the patient's insurance (an active Coverage) or bill the patient directly."
    ),
    "missing-data.no-payer": RuleDef(MISSING, E, "Set Coverage.payor to the payer Organization (with its payer id)."),
    "missing-data.no-payer-id": RuleDef(
        MISSING, E, "Add the payer id (identifier system urn:claimbridge:payer-id) to the payer Organization."
    ),
    "missing-data.no-billing-provider": RuleDef(
        MISSING, E, "Set Encounter.serviceProvider to the billing Organization."
    ),
    "missing-data.no-rendering-provider": RuleDef(
        MISSING, E, "Add the rendering clinician as the primary performer (participant type PPRF)."
    ),
    "missing-data.no-service-date": RuleDef(MISSING, E, "Record when the encounter happened (Encounter.period)."),
    "missing-data.no-place-of-service": RuleDef(
        MISSING, E, "Set Encounter.class (or the Location's place-of-service type) for this visit."
    ),
    "missing-data.no-diagnosis": RuleDef(
        MISSING, E, "Add an ICD-10-CM diagnosis to the encounter (Encounter.diagnosis or a Condition)."
    ),
    "missing-data.diagnosis-not-icd10": RuleDef(
        MISSING, W, "Code the Condition in ICD-10-CM so it can go on the claim."
    ),
    "missing-data.no-charge-price": RuleDef(
        MISSING, E, "Add the code to the charge master (config/chargemaster.yaml), then re-run the claim."
    ),
    "missing-data.drug-dose": RuleDef(
        MISSING, W, "Record the administered dose (dosageInstruction.doseAndRate.doseQuantity) in mg/g/mcg."
    ),
    "missing-data.referral-number": RuleDef(
        MISSING, W, "Record the payer's referral number on the referral (ServiceRequest.identifier)."
    ),
    "charge-capture.unmapped-order": RuleDef(
        CAPTURE, W, "Add the order code to a code table in config/mappings, or code the order in CPT/HCPCS."
    ),
    "charge-capture.unmapped-drug": RuleDef(
        CAPTURE, W, "Add the RxNorm code (HCPCS code, NDC, billing unit) to the drug table in config/mappings."
    ),
    "undercoding.em-level": RuleDef(
        Category.UNDERCODING, W, "Review the documentation: the time or MDM supports a higher E/M level."
    ),
    "coding.em-overcoded": RuleDef(
        CODING, W, "Review the documentation: time and MDM support a lower E/M level than billed (audit risk)."
    ),
    "coding.em-patient-category": RuleDef(
        CODING, W, "Bill the new-patient (9920x) or established-patient (9921x) code the history supports."
    ),
    "coding.em-multiple-billed": RuleDef(CODING, W, "Bill one office/outpatient E/M code per encounter."),
    "charge-capture.unmapped-charge-item": RuleDef(
        CAPTURE, W, "Code the ChargeItem in CPT/HCPCS, or add its code to a code table in config/mappings."
    ),
    "charge-capture.unmapped-procedure": RuleDef(
        CAPTURE, W, "Code the Procedure in CPT/HCPCS (or add its code to a code table) if it is billable."
    ),
    "charge-capture.charge-item-status": RuleDef(
        CAPTURE, W, "Set the ChargeItem status to billable (or not-billable / entered-in-error if it is not)."
    ),
    "charge-capture.charge-already-billed": RuleDef(
        CAPTURE, INFO, "Nothing to do if another system billed it; otherwise set the ChargeItem back to billable."
    ),
    "missing-data.price-override-reason": RuleDef(
        MISSING, W, "Record why the price was overridden (ChargeItem.overrideReason), or remove the override."
    ),
    "coding.price-override": RuleDef(CODING, INFO, "None: the ChargeItem's override (with its reason) is billed."),
    "duplicate.same-service": RuleDef(Category.DUPLICATE, INFO, "None: the service is billed once."),
    "coding.charge-code-differs": RuleDef(
        CODING, W, "Check which code is right: the same service is recorded with two codes; the first is billed."
    ),
}


def make_finding(rule: str, *, message: str, location: str, source: str | None) -> Finding:
    """A :class:`Finding` for a registered mapper rule."""
    definition = MAPPER_RULES[rule]
    return Finding(
        rule=rule,
        category=definition.category,
        severity=definition.severity,
        message=message,
        location=location,
        source=source,
        fix=definition.fix,
    )
