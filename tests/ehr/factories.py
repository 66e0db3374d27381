"""Factories for the FHIR resources the EHR tests need, and a controllable clock.

Irrelevant fields vary with a counter (names, dates, identifiers) so tests cannot lean on them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

_n = itertools.count(1)
GIVEN = ("Ana", "Bo", "Chidi", "Dana", "Eun", "Farah")
FAMILY = ("Okafor", "Lindqvist", "Tanaka", "Moreau", "Silva")


@dataclass
class FakeClock:
    """A clock for tokens and timestamps that only moves when told to."""

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def patient(pid: str | None = None) -> dict[str, Any]:
    i = next(_n)
    return {
        "resourceType": "Patient",
        "id": pid or f"pat-{i}",
        "name": [{"family": FAMILY[i % len(FAMILY)], "given": [GIVEN[i % len(GIVEN)]]}],
        "birthDate": f"19{50 + i % 40}-0{1 + i % 9}-1{i % 9}",
    }


def practitioner(pid: str | None = None) -> dict[str, Any]:
    i = next(_n)
    return {"resourceType": "Practitioner", "id": pid or f"prac-{i}", "name": [{"family": FAMILY[i % len(FAMILY)]}]}


def organization(oid: str | None = None) -> dict[str, Any]:
    i = next(_n)
    return {"resourceType": "Organization", "id": oid or f"org-{i}", "name": f"Clinic {i}"}


def encounter(eid: str, *, patient_id: str, status: str = "finished", **refs: str) -> dict[str, Any]:
    i = next(_n)
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": f"2024-0{1 + i % 9}-1{i % 9}T09:00:00Z"},
    }
    if "practitioner_id" in refs:
        resource["participant"] = [{"individual": {"reference": f"Practitioner/{refs['practitioner_id']}"}}]
    if "organization_id" in refs:
        resource["serviceProvider"] = {"reference": f"Organization/{refs['organization_id']}"}
    return resource


def service_request(srid: str, *, encounter_id: str, patient_id: str) -> dict[str, Any]:
    i = next(_n)
    return {
        "resourceType": "ServiceRequest",
        "id": srid,
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": f"{99200 + i % 15}"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{encounter_id}"},
    }


def condition(cid: str, *, encounter_id: str, patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{encounter_id}"},
    }


def coverage(cid: str, *, patient_id: str, payor_id: str) -> dict[str, Any]:
    i = next(_n)
    return {
        "resourceType": "Coverage",
        "id": cid,
        "status": "active",
        "identifier": [{"system": "https://payer.example/member", "value": f"M{1000 + i}"}],
        "beneficiary": {"reference": f"Patient/{patient_id}"},
        "payor": [{"reference": f"Organization/{payor_id}"}],
    }


def task(identifier_value: str) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "identifier": [{"system": "https://claimbridge.example/task", "value": identifier_value}],
        "status": "requested",
        "intent": "order",
    }
