"""FHIR R4 resource factories (plain dicts) for mapper tests, using the shared vocabulary.

Every factory takes the fields a test cares about; ``noise(resource, rng)`` adds fields the mapper
must ignore (narrative, meta, displays, unrelated extensions, identifiers), so tests can show that
irrelevant variation does not change the claim.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from app.domain.context import EncounterContext, build_contexts

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"  # the registered URI, what claims carry
HCPCS_INPUTS = (HCPCS, "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                "https://bluebutton.cms.gov/resources/codesystem/hcpcs")  # fmt: skip
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOCAL = "http://example.org/fhir/CodeSystem/local-orders"
SNOMED = "http://snomed.info/sct"
NPI = "http://hl7.org/fhir/sid/us-npi"
PAYER_ID = "urn:claimbridge:payer-id"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PART_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
MR_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
UCUM = "http://unitsofmeasure.org"

Resource = dict[str, Any]


def ref(resource: Resource) -> dict[str, str]:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def patient(pid: str = "pat-1") -> Resource:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": "Rivera", "given": ["Ana"]}],
        "gender": "female",
        "birthDate": "1961-04-12",
    }


def practitioner(pid: str = "prac-1", npi: str = "1245319599") -> Resource:
    return {
        "resourceType": "Practitioner",
        "id": pid,
        "identifier": [{"system": NPI, "value": npi}],
        "name": [{"family": "Okafor", "given": ["Chidi"]}],
    }


def organization(oid: str, name: str, *, payer_id: str | None = None, npi: str | None = None) -> Resource:
    org: Resource = {"resourceType": "Organization", "id": oid, "name": name, "identifier": []}
    if npi:
        org["identifier"].append({"system": NPI, "value": npi})
    if payer_id:
        org["identifier"].append({"system": PAYER_ID, "value": payer_id})
    return org


def coverage(cid: str, pat: Resource, payer: Resource, *, order: int | None = 1, status: str = "active") -> Resource:
    cov: Resource = {
        "resourceType": "Coverage",
        "id": cid,
        "status": status,
        "beneficiary": ref(pat),
        "subscriberId": f"SUB{cid.upper()}",
        "payor": [ref(payer)],
    }
    if order is not None:
        cov["order"] = order
    return cov


def encounter(
    eid: str,
    pat: Resource,
    clinic: Resource,
    prac: Resource | None,
    *,
    start: str = "2024-11-20T09:00:00-05:00",
    end: str = "2024-11-20T09:40:00-05:00",
    cls: str = "AMB",
    em_code: str | None = "99213",
    minutes: int | None = None,
    status: str = "finished",
    diagnoses: list[tuple[Resource, int | None]] = (),  # type: ignore[assignment]
) -> Resource:
    enc: Resource = {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "class": {"system": ACT_CODE, "code": cls},
        "subject": ref(pat),
        "period": {"start": start, "end": end},
        "serviceProvider": ref(clinic),
    }
    if em_code:
        enc["type"] = [{"coding": [{"system": CPT, "code": em_code}]}]
    if prac is not None:
        enc["participant"] = [{"type": [{"coding": [{"system": PART_TYPE, "code": "PPRF"}]}], "individual": ref(prac)}]
    if minutes is not None:
        enc["length"] = {"value": minutes, "unit": "min", "system": UCUM, "code": "min"}
    if diagnoses:
        enc["diagnosis"] = []
        for cond, rank in diagnoses:
            item: Resource = {"condition": ref(cond)}
            if rank is not None:
                item["rank"] = rank
            enc["diagnosis"].append(item)
    return enc


def condition(
    cid: str,
    pat: Resource,
    enc: Resource | None,
    icd10: str | None,
    *,
    severity: str | None = None,
    clinical: str = "active",
    verification: str = "confirmed",
    onset: str | None = None,
    snomed: str | None = None,
) -> Resource:
    codings = []
    if icd10:
        codings.append({"system": ICD10, "code": icd10})
    if snomed:
        codings.append({"system": SNOMED, "code": snomed})
    cond: Resource = {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"code": clinical}]},
        "verificationStatus": {"coding": [{"code": verification}]},
        "code": {"coding": codings},
        "subject": ref(pat),
    }
    if enc is not None:
        cond["encounter"] = ref(enc)
    severities = {"mild": "255604002", "moderate": "6736007", "severe": "24484000"}
    if severity:
        cond["severity"] = {"coding": [{"system": SNOMED, "code": severities[severity]}]}
    if onset:
        cond["onsetDateTime"] = onset
    return cond


def service_request(
    sid: str,
    pat: Resource,
    enc: Resource,
    system: str,
    code: str,
    *,
    status: str = "completed",
    requester: Resource | None = None,
    reasons: list[Resource] = (),  # type: ignore[assignment]
    reason_codes: list[str] = (),  # type: ignore[assignment]
    category: str | None = None,
    body_site: str | None = None,
    quantity: int | None = None,
) -> Resource:
    sr: Resource = {
        "resourceType": "ServiceRequest",
        "id": sid,
        "status": status,
        "intent": "order",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": ref(pat),
        "encounter": ref(enc),
        "occurrenceDateTime": "2024-11-20T09:30:00-05:00",
    }
    if requester is not None:
        sr["requester"] = ref(requester)
    if reasons:
        sr["reasonReference"] = [ref(r) for r in reasons]
    if reason_codes:
        sr["reasonCode"] = [{"coding": [{"system": ICD10, "code": c}]} for c in reason_codes]
    if category:
        sr["category"] = [{"coding": [{"system": SNOMED, "code": category}]}]
    if body_site:
        sr["bodySite"] = [{"coding": [{"system": SNOMED, "code": body_site}]}]
    if quantity is not None:
        sr["quantityQuantity"] = {"value": quantity}
    return sr


REFERRAL_NUMBER = "urn:claimbridge:referral-number"


def referral(
    rid: str,
    pat: Resource,
    *,
    number: str | None = "SCR00012345",
    requester: Resource | None = None,
    category: str = "3457005",
    number_system: str = REFERRAL_NUMBER,
) -> Resource:
    """An HMO referral (not linked to the encounter: the Encounter's ``basedOn`` points at it)."""
    sr: Resource = {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": SNOMED, "code": category}]}],
        "code": {"text": "Referral to orthopedics"},
        "subject": ref(pat),
        "occurrencePeriod": {"start": "2024-10-01", "end": "2024-12-31"},
    }
    if number is not None:
        sr["identifier"] = [{"system": number_system, "value": number}]
    if requester is not None:
        sr["requester"] = ref(requester)
    return sr


def medication_request(
    mid: str,
    pat: Resource,
    enc: Resource,
    rxnorm: str,
    *,
    dose: float | None = None,
    unit: str = "mg",
    category: str = "outpatient",
    status: str = "completed",
    reasons: list[Resource] = (),  # type: ignore[assignment]
) -> Resource:
    mr: Resource = {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "intent": "order",
        "category": [{"coding": [{"system": MR_CATEGORY, "code": category}]}],
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxnorm}]},
        "subject": ref(pat),
        "encounter": ref(enc),
    }
    if dose is not None:
        mr["dosageInstruction"] = [
            {"doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": unit}}]}
        ]
    if reasons:
        mr["reasonReference"] = [ref(r) for r in reasons]
    return mr


def noise(resource: Resource, rng: random.Random) -> Resource:
    """A copy with fields the mapper must ignore (narrative, meta, displays, extensions)."""
    out = dict(resource)
    out["meta"] = {"versionId": str(rng.randint(1, 99)), "lastUpdated": f"2024-11-{rng.randint(10, 28)}T10:00:00Z"}
    out["text"] = {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{rng.random()}</div>'}
    out["extension"] = [{"url": "http://example.org/fhir/StructureDefinition/noise", "valueString": str(rng.random())}]
    if resource["resourceType"] in ("Patient", "Practitioner"):
        out["name"] = [{"family": rng.choice(["Lee", "Nguyen", "Kowalski"]), "given": ["X"]}]
    return out


@dataclass
class Visit:
    """A standard office visit: patient, clinic, clinician, one payer, one Coverage, one Condition."""

    em_code: str | None = "99213"
    cls: str = "AMB"
    minutes: int | None = 22  # supports the default 99213 by time
    status: str = "finished"
    pat: Resource = field(default_factory=patient)
    prac: Resource = field(default_factory=practitioner)
    clinic: Resource = field(
        default_factory=lambda: organization("org-clinic", "Lakeview Family Medicine", npi="1609869955")
    )
    payer: Resource = field(
        default_factory=lambda: organization("org-buckeye", "Buckeye Mutual Health Plan", payer_id="60054")
    )
    extra: list[Resource] = field(default_factory=list)
    history: list[Resource] = field(default_factory=list)
    with_coverage: bool = True
    with_condition: bool = True

    def __post_init__(self) -> None:
        self.enc = encounter(
            "enc-1",
            self.pat,
            self.clinic,
            self.prac,
            cls=self.cls,
            em_code=self.em_code,
            minutes=self.minutes,
            status=self.status,
        )
        self.cond = condition("cond-1", self.pat, self.enc, "E11.9")
        if self.with_condition:
            self.enc["diagnosis"] = [{"condition": ref(self.cond), "rank": 1}]

    def resources(self) -> list[Resource]:
        base = [self.pat, self.prac, self.clinic, self.payer, self.enc]
        if self.with_coverage:
            base.append(coverage("cov-1", self.pat, self.payer))
        if self.with_condition:
            base.append(self.cond)
        return [*base, *self.extra]

    def context(self, *, rng: random.Random | None = None) -> EncounterContext:
        resources = self.resources()
        if rng is not None:
            resources = [noise(r, rng) for r in resources]
            rng.shuffle(resources)
        contexts = build_contexts(resources, history=self.history)
        return next(c for c in contexts if c.key == "Encounter/enc-1")


def charge_item(
    cid: str,
    pat: Resource,
    enc: Resource,
    system: str,
    code: str,
    *,
    status: str = "billable",
    quantity: float | None = None,
    performer: Resource | None = None,
    service: list[Resource] = (),  # type: ignore[assignment]
    date: str | None = None,
    price_override: float | None = None,
    factor_override: float | None = None,
    override_reason: str | None = None,
    reason_codes: list[str] = (),  # type: ignore[assignment]
) -> Resource:
    """An R4 ChargeItem whose ``context`` is the encounter."""
    ci: Resource = {
        "resourceType": "ChargeItem",
        "id": cid,
        "status": status,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": ref(pat),
        "context": ref(enc),
    }
    if date:
        ci["occurrenceDateTime"] = date
    if performer is not None:
        ci["performer"] = [{"actor": ref(performer)}]
    if quantity is not None:
        ci["quantity"] = {"value": quantity}
    if factor_override is not None:
        ci["factorOverride"] = factor_override
    if price_override is not None:
        ci["priceOverride"] = {"value": price_override, "currency": "USD"}
    if override_reason is not None:
        ci["overrideReason"] = override_reason
    if reason_codes:
        ci["reason"] = [{"coding": [{"system": ICD10, "code": c}]} for c in reason_codes]
    if service:
        ci["service"] = [ref(s) for s in service]
    return ci


def procedure(
    pid: str,
    pat: Resource,
    enc: Resource,
    system: str,
    code: str,
    *,
    status: str = "completed",
    performer: Resource | None = None,
    reasons: list[Resource] = (),  # type: ignore[assignment]
    based_on: list[Resource] = (),  # type: ignore[assignment]
    date: str | None = "2024-11-20T09:20:00-05:00",
) -> Resource:
    """An R4 Procedure done in the encounter."""
    proc: Resource = {
        "resourceType": "Procedure",
        "id": pid,
        "status": status,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": ref(pat),
        "encounter": ref(enc),
    }
    if date:
        proc["performedDateTime"] = date
    if performer is not None:
        proc["performer"] = [{"actor": ref(performer)}]
    if reasons:
        proc["reasonReference"] = [ref(r) for r in reasons]
    if based_on:
        proc["basedOn"] = [ref(b) for b in based_on]
    return proc
