"""The compiled mapping spec the engine reads: named fields, code tables and a few settings.

The engine asks for values by field name (``spec.one("encounter.start", encounter)``); where each
value comes from (a FHIRPath expression on one resource, then named transforms) is data in
``config/mappings/*.yaml``. :data:`FIELD_DEFS` is the closed list of fields the engine reads and the
resource types each may be evaluated on; the loader rejects unknown names and missing required ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.mappers.fhirpath import KEPT, CompiledPath, exec_generated, generated_source, plain, walk_lines
from app.mappers.tables import CodeTable
from app.mappers.transforms import Step, apply_steps, compile_steps


@dataclass(frozen=True)
class FieldDef:
    on: tuple[str, ...]  # resource types the field may be evaluated on (the first is the default)
    meaning: str
    required: bool = True


_ENC, _COND, _SR, _MR = ("Encounter",), ("Condition",), ("ServiceRequest",), ("MedicationRequest",)
_CI, _PR = ("ChargeItem",), ("Procedure",)

FIELD_DEFS: dict[str, FieldDef] = {
    "encounter.patient": FieldDef(_ENC, "the patient: Type/id reference"),
    "encounter.start": FieldDef(_ENC, "date of service (from): YYYY-MM-DD"),
    "encounter.end": FieldDef(_ENC, "date of service (through): YYYY-MM-DD"),
    "encounter.place_of_service": FieldDef(_ENC, "place of service, a mapped code (POS table)"),
    "encounter.telehealth": FieldDef(_ENC, "true for a telehealth visit"),
    "encounter.inpatient": FieldDef(_ENC, "true for an inpatient stay (adds supportingInfo hospitalized)"),
    "encounter.billing_provider": FieldDef(_ENC, "billing Organization reference"),
    "encounter.rendering": FieldDef(_ENC, "rendering practitioner reference (primary performer)"),
    "encounter.minutes": FieldDef(_ENC, "total time on the date of the encounter, minutes"),
    "encounter.diagnosis": FieldDef(_ENC, "Encounter.diagnosis elements (condition, rank)"),
    "encounter.reasons": FieldDef(_ENC, "reason Condition references"),
    "encounter.referrals": FieldDef(_ENC, "references to the referral(s) the visit is based on", False),
    "encounter.independent_historian": FieldDef(_ENC, "true when an independent historian took part"),
    "location.place_of_service": FieldDef(("Location",), "place of service from the Location", False),
    "condition.icd10": FieldDef(_COND, "ICD-10-CM code of the Condition"),
    "condition.problem_class": FieldDef(_COND, "chronic | minor (mapped), else acute"),
    "condition.severity": FieldDef(_COND, "mild | moderate | severe (mapped)"),
    "condition.undiagnosed": FieldDef(_COND, "true for a provisional/differential diagnosis"),
    "condition.exacerbation": FieldDef(_COND, "true for a recurrence/relapse or worsening"),
    "condition.onset": FieldDef(_COND, "onset date"),
    "coverage.active": FieldDef(("Coverage",), "true when the Coverage may be billed"),
    "coverage.payor": FieldDef(("Coverage",), "payer Organization reference"),
    "payer.id": FieldDef(("Organization",), "payer id values of the payer Organization"),
    "service_request.billable": FieldDef(_SR, "true when the order yields a charge line (done)"),
    "service_request.code": FieldDef(_SR, "the billable code (mapped)"),
    "service_request.quantity": FieldDef(_SR, "units"),
    "service_request.modifiers": FieldDef(_SR, "modifiers (e.g. laterality from bodySite)"),
    "service_request.date": FieldDef(_SR, "date of service of the line"),
    "service_request.requester": FieldDef(_SR, "ordering/referring practitioner reference"),
    "service_request.reason_refs": FieldDef(_SR, "reason Condition references"),
    "service_request.reason_codes": FieldDef(_SR, "reason ICD-10-CM codes"),
    "service_request.test_kind": FieldDef(_SR, "lab | imaging when the order is a test (mapped)"),
    "service_request.risk": FieldDef(_SR, "E/M risk of the ordered service (mapped)"),
    "service_request.referral": FieldDef(_SR, "true for a referral: never a charge line; E/M risk per settings"),
    "referral.number": FieldDef(_SR, "the referral number of a referral ServiceRequest", False),
    "medication_request.in_office": FieldDef(_MR, "true when administered in the office"),
    "medication_request.prescription": FieldDef(_MR, "true for a prescription (E/M risk)"),
    "medication_request.code": FieldDef(_MR, "billable drug code (mapped: HCPCS + NDC + unit)"),
    "medication_request.medication": FieldDef(_MR, "Medication reference"),
    "medication_request.dose": FieldDef(_MR, "dose Quantity"),
    "medication_request.requester": FieldDef(_MR, "ordering practitioner reference"),
    "medication_request.reason_refs": FieldDef(_MR, "reason Condition references"),
    "medication_request.reason_codes": FieldDef(_MR, "reason ICD-10-CM codes"),
    "medication_request.risk": FieldDef(_MR, "E/M risk of the drug (mapped)"),
    "medication.code": FieldDef(("Medication",), "billable drug code of a Medication", False),
    "document.custodian": FieldDef(("DocumentReference",), "custodian Organization reference", False),
    "encounter.em_modifiers": FieldDef(_ENC, "modifiers for the E/M line (billing-modifier extension)", False),
    "em.billed": FieldDef(("Encounter", "ChargeItem", "Procedure"), "the E/M code the clinician billed"),
    # ChargeItem and Procedure charge sources; optional, so older mapping sets still load (no such lines).
    "charge_item.status": FieldDef(_CI, "ChargeItem.status (billable | billed | ...)", False),
    "charge_item.code": FieldDef(_CI, "the billable code (mapped)", False),
    "charge_item.quantity": FieldDef(_CI, "units", False),
    "charge_item.modifiers": FieldDef(_CI, "modifiers (e.g. laterality from bodysite)", False),
    "charge_item.date": FieldDef(_CI, "date of service of the line", False),
    "charge_item.performer": FieldDef(_CI, "who performed the service (line rendering provider)", False),
    "charge_item.reason_codes": FieldDef(_CI, "reason ICD-10-CM codes", False),
    "charge_item.service": FieldDef(_CI, "references to what was charged (ServiceRequest, Procedure ...)", False),
    "charge_item.price_override": FieldDef(_CI, "priceOverride: the line's total charge, Money", False),
    "charge_item.factor_override": FieldDef(_CI, "factorOverride: multiplies the charge-master price", False),
    "charge_item.override_reason": FieldDef(_CI, "why the price was overridden", False),
    "procedure.billable": FieldDef(_PR, "true when the Procedure yields a charge line (completed)", False),
    "procedure.code": FieldDef(_PR, "the billable CPT/HCPCS code (mapped)", False),
    "procedure.modifiers": FieldDef(_PR, "modifiers (e.g. laterality from bodySite)", False),
    "procedure.date": FieldDef(_PR, "date of service of the line", False),
    "procedure.performer": FieldDef(_PR, "who performed it (line rendering provider)", False),
    "procedure.reason_refs": FieldDef(_PR, "reason Condition references (diagnosis pointers)", False),
    "procedure.reason_codes": FieldDef(_PR, "reason ICD-10-CM codes", False),
    "procedure.based_on": FieldDef(_PR, "the order(s) the Procedure fulfils (ServiceRequest references)", False),
}


@dataclass(frozen=True)
class Settings:
    telehealth_modifier: str | None = "95"  # added to the E/M line of a telehealth visit
    established_lookback_years: int = 3
    referral_risk: str = "low"  # E/M risk of a referral order


@dataclass(frozen=True)
class FieldRule:
    name: str
    on: str
    sources: tuple[CompiledPath, ...]  # alternatives: the first non-empty result wins
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class MappingSet:
    version: str
    profile: str
    fields: Mapping[str, FieldRule]
    tables: Mapping[str, CodeTable]
    settings: Settings = field(default_factory=Settings)
    #: Each field's sources and transforms as one function, bound to ``tables`` (built once, here).
    _runs: dict[str, Callable[[dict[str, Any] | None], list[Any]]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for name, rule in self.fields.items():
            self._runs[name] = _field_runner(rule, self.tables)

    def on(self, name: str) -> str:
        """The resource type field ``name`` is evaluated on."""
        rule = self.fields.get(name)
        return rule.on if rule else FIELD_DEFS[name].on[0]

    def values(self, name: str, resource: dict[str, Any] | None) -> list[Any]:
        run = self._runs.get(name)
        if run is not None:
            return run(resource)
        return self.values_stepwise(name, resource)

    def values_stepwise(self, name: str, resource: dict[str, Any] | None) -> list[Any]:
        """:meth:`values` one source and one transform at a time (the reference the tests compare with)."""
        rule = self.fields.get(name)
        if rule is None:
            if name not in FIELD_DEFS:
                raise KeyError(f"unknown mapping field {name!r}")
            return []
        if resource is None or resource.get("resourceType") != rule.on:
            return []
        for source in rule.sources:
            found = source(resource)
            if found:
                return apply_steps(found, rule.steps, self.tables)
        return apply_steps([], rule.steps, self.tables)

    def source_of(self, name: str) -> str | None:
        """The generated Python source of field ``name`` (for debugging: ``print(spec.source_of(...))``)."""
        run = self._runs.get(name)
        return generated_source(run) if run is not None else None

    def one(self, name: str, resource: dict[str, Any] | None) -> Any:
        run = self._runs.get(name)
        found = run(resource) if run is not None else self.values_stepwise(name, resource)
        return found[0] if found else None

    def flag(self, name: str, resource: dict[str, Any] | None) -> bool:
        run = self._runs.get(name)
        found = run(resource) if run is not None else self.values_stepwise(name, resource)
        return bool(found) and found[0] is True


def _field_runner(rule: FieldRule, tables: Mapping[str, CodeTable]) -> Callable[[dict[str, Any] | None], list[Any]]:
    """``MappingSet.values`` of one field as one generated function, built once.

    The resource type is tested once; each plain-path source's walker loops are written inline
    (:func:`~app.mappers.fhirpath.walk_lines`), any other source is called; the first source with
    values wins; JSON floats become Decimals as fhirpathpy gives them; then the transforms, each
    bound to its argument and tables (``first`` inlined). :meth:`MappingSet.values_stepwise` is the
    reference the tests compare it with.
    """
    namespace: dict[str, Any] = {"KEPT": KEPT, "plain": plain, "ON": rule.on}
    inner: list[str] = []
    body = [
        "def field(resource):",
        "    if resource is None or resource.get('resourceType') != ON:",
        "        return []",
        "    out = []",
    ]
    for n, source in enumerate(rule.sources):
        if source.path is not None and source.path[0] != rule.on:
            continue  # never matches a resource of this field's type: no values, as before
        pad = "    " if n == 0 else "        "
        if n:
            body.append("    if not out:")
        if source.path is not None:
            defs, lines = walk_lines(source.path[1], namespace, f"s{n}", "resource", 2 if n else 1)
            inner += defs
            body += [f"{pad}out = []", f"{pad}append = out.append", *lines]
        else:
            namespace[f"source{n}"] = source._run
            body.append(f"{pad}out = source{n}(resource)")
    body += [
        "    for value in out:",
        "        if value.__class__ not in KEPT:",
        "            out = [plain(v) for v in out]",
        "            break",
    ]
    for n, (step, compiled) in enumerate(zip(rule.steps, compile_steps(rule.steps, tables), strict=True)):
        if step.name == "first":
            body.append("    out = out[:1]")
        elif step.name == "any_of":  # any(v in wanted for v in out), without the generator
            namespace[f"wanted{n}"] = list(step.arg) if isinstance(step.arg, list | tuple) else [step.arg]
            body += [
                "    for value in out:",
                f"        if value in wanted{n}:",
                "            out = [True]",
                "            break",
                "    else:",
                "        out = [False]",
            ]
        else:
            namespace[f"step{n}"] = compiled
            body.append(f"    out = step{n}(out)")
    body.append("    return out")
    source_text = "\n".join([*inner, "\n".join(body)])
    run: Callable[[dict[str, Any] | None], list[Any]] = exec_generated(
        source_text, namespace, "field", f"mapping field {rule.name}"
    )
    return run
