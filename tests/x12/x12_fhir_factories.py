"""Hand-built R4 resources for the FHIR Claim → 837P input tests (ids and names vary by seed)."""

from __future__ import annotations

from typing import Any

from app.domain.context import EncounterContext, build_contexts

Resource = dict[str, Any]
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
NPI = "http://hl7.org/fhir/sid/us-npi"
TIN = "urn:oid:2.16.840.1.113883.4.4"
NAMES = [("RIVERA", "ANA"), ("NGUYEN", "MINH"), ("OKAFOR", "CHIDI")]


def address(seed: int, postal: str = "43215") -> list[Resource]:
    return [{"use": "home", "line": [f"{10 + seed} OAK ST"], "city": "COLUMBUS", "state": "OH", "postalCode": postal}]


def patient(seed: int = 0) -> Resource:
    family, given = NAMES[seed % 3]
    return {
        "resourceType": "Patient",
        "id": f"pat{seed}",
        "name": [{"family": family, "given": [given]}],
        "gender": "female",
        "birthDate": "1961-04-0" + str(1 + seed % 9),
        "address": address(seed),
    }


def clinic() -> Resource:
    return {
        "resourceType": "Organization",
        "id": "clinic",
        "name": "LAKEVIEW FAMILY CLINIC",
        "identifier": [{"system": NPI, "value": "1234567893"}, {"system": TIN, "value": "31-1234567"}],
        "address": [
            {"use": "work", "line": ["400 HIGH ST"], "city": "COLUMBUS", "state": "OH", "postalCode": "43215-1234"}
        ],
    }


def payer() -> Resource:
    return {
        "resourceType": "Organization",
        "id": "payer",
        "name": "BUCKEYE MUTUAL HEALTH PLAN",
        "identifier": [{"system": "urn:claimbridge:payer-id", "value": "60054"}],
    }


def practitioner() -> Resource:
    return {
        "resourceType": "Practitioner",
        "id": "doc",
        "identifier": [{"system": NPI, "value": "1912301953"}],
        "name": [{"family": "HOUSE", "given": ["GREGORY", "M"]}],
    }


def coverage(seed: int = 0, **changes: Any) -> Resource:
    base = {
        "resourceType": "Coverage",
        "id": f"cov{seed}",
        "status": "active",
        "beneficiary": {"reference": f"Patient/pat{seed}"},
        "subscriberId": f"MBR{seed:05d}",
        "payor": [{"reference": "Organization/payer"}],
        "relationship": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "self"}]
        },
        "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": "511"}]},
        "class": [
            {
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "group"}]
                },
                "value": "GRP77",
            }
        ],
    }
    base.update(changes)
    return base


def claim(seed: int = 0, **changes: Any) -> Resource:
    base: Resource = {
        "resourceType": "Claim",
        "id": f"claim{seed}",
        "status": "active",
        "use": "claim",
        "patient": {"reference": f"Patient/pat{seed}"},
        "provider": {"reference": "Organization/clinic"},
        "careTeam": [
            {
                "sequence": 1,
                "provider": {"reference": "Practitioner/doc"},
                "role": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claimcareteamrole", "code": "primary"}]
                },
                "qualification": {"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "207Q00000X"}]},
            }
        ],
        "diagnosis": [
            {"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"system": ICD, "code": "E11.9"}]}},
            {"sequence": 2, "diagnosisCodeableConcept": {"coding": [{"system": ICD, "code": "I10"}]}},
        ],
        "insurance": [
            {"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/cov{seed}"}, "preAuthRef": ["PA-991"]}
        ],
        "item": [
            {
                "sequence": 1,
                "productOrService": {"coding": [{"system": CPT, "code": "99214"}]},
                "modifier": [{"coding": [{"system": CPT, "code": "25"}]}],
                "quantity": {"value": 1},
                "net": {"value": 150.0, "currency": "USD"},
                "servicedDate": "2026-11-02",
                "locationCodeableConcept": {"coding": [{"system": POS, "code": "11"}]},
                "diagnosisSequence": [1, 2],
            },
            {
                "sequence": 2,
                "productOrService": {"coding": [{"system": HCPCS, "code": "J1030"}]},
                "quantity": {"value": 1},
                "net": {"value": 18.5, "currency": "USD"},
                "servicedDate": "2026-11-02",
                "locationCodeableConcept": {"coding": [{"system": POS, "code": "11"}]},
                "diagnosisSequence": [1],
                "detail": [
                    {
                        "sequence": 1,
                        "productOrService": {
                            "coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "00009-3073-01"}]
                        },
                        "quantity": {"value": 1, "unit": "mL", "code": "mL"},
                    }
                ],
            },
        ],
        "total": {"value": 168.5, "currency": "USD"},
    }
    base.update(changes)
    return base


def context(seed: int = 0, *, extra: tuple[Resource, ...] = (), cov: Resource | None = None) -> EncounterContext:
    encounter = {
        "resourceType": "Encounter",
        "id": f"enc{seed}",
        "status": "finished",
        "subject": {"reference": f"Patient/pat{seed}"},
    }
    resources = [encounter, patient(seed), clinic(), payer(), practitioner(), cov or coverage(seed), *extra]
    (ctx,) = build_contexts(resources)
    return ctx
