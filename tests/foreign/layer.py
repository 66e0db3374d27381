"""What billing needs, added to a generated (foreign) Bundle in its own style, and its id-ful twin.

:func:`add_billing` registers the visit the way a practice would (clinic and payer Organizations, a
Coverage, the clinician on the Encounter) and records the charges as FHIR-native resources: an E/M
ChargeItem and a Procedure per encounter; every added resource is id-less with a ``urn:uuid``
fullUrl, like the generator's own. :func:`with_ids` is the same Bundle as an id-ful EHR export
(``id`` = the uuid, references ``Type/uuid``), written independently of the code under test.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

Resource = dict[str, Any]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "foreign"
CPT = "http://www.ama-assn.org/go/cpt"
PART_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
NPI = "http://hl7.org/fhir/sid/us-npi"
_NS = uuid.UUID("6f1c1d2e-9a0b-4c3d-8e7f-112233445566")


def load(name: str) -> Resource:
    return json.loads((FIXTURES / name).read_text())


def urn(label: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, label)}"


def _entry(full_url: str, resource: Resource) -> Resource:
    return {"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}


def first_url(bundle: Resource, resource_type: str) -> str:
    return next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)


def _registration(patient: str) -> list[Resource]:
    clinic = {
        "resourceType": "Organization",
        "name": "Lakeview Family Medicine",
        "identifier": [{"system": NPI, "value": "1609869955"}],
    }
    payer = {
        "resourceType": "Organization",
        "name": "Buckeye Mutual Health Plan",
        "identifier": [{"system": "urn:claimbridge:payer-id", "value": "60054"}],
    }
    coverage = {
        "resourceType": "Coverage",
        "status": "active",
        "subscriberId": "BMH0042",
        "beneficiary": {"reference": patient},
        "payor": [{"reference": urn("payer")}],
    }
    return [_entry(urn("clinic"), clinic), _entry(urn("payer"), payer), _entry(urn("coverage"), coverage)]


def _charges(n: int, encounter: Resource, enc_url: str, patient: str, clinician: str, em: str) -> list[Resource]:
    charge = {
        "resourceType": "ChargeItem",
        "status": "billable",
        "code": {"coding": [{"system": CPT, "code": em}]},
        "subject": {"reference": patient},
        "context": {"reference": enc_url},
        "performer": [{"actor": {"reference": clinician}}],
    }
    ekg = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": CPT, "code": "93000"}]},
        "subject": {"reference": patient},
        "encounter": {"reference": enc_url},
        "performedDateTime": encounter["period"]["start"],
        "performer": [{"actor": {"reference": clinician}}],
    }
    return [_entry(urn(f"charge-{n}"), charge), _entry(urn(f"ekg-{n}"), ekg)]


def add_billing(bundle: Resource, *, em: str = "99213") -> Resource:
    """A copy of ``bundle`` with registration and charges for every Encounter (see the module doc)."""
    out = copy.deepcopy(bundle)
    patient = first_url(out, "Patient")
    clinician = first_url(out, "Practitioner")
    added = _registration(patient)
    encounters = [e for e in out["entry"] if e["resource"]["resourceType"] == "Encounter"]
    for n, entry in enumerate(encounters):
        enc = entry["resource"]
        enc["serviceProvider"] = {"reference": urn("clinic")}
        enc["participant"] = [
            {
                "type": [{"coding": [{"system": PART_TYPE, "code": "PPRF"}]}],
                "individual": {"reference": clinician},
            }
        ]
        added += _charges(n, enc, entry["fullUrl"], patient, clinician, em)
    out["entry"] += added
    return out


def with_ids(bundle: Resource) -> Resource:
    """The id-ful twin: ``id`` from each ``urn:uuid`` fullUrl, references rewritten to ``Type/id``."""
    out = copy.deepcopy(bundle)
    target: dict[str, str] = {}
    for entry in out["entry"]:
        rid = entry["fullUrl"].removeprefix("urn:uuid:")
        target[entry["fullUrl"]] = f"{entry['resource']['resourceType']}/{rid}"
    text = json.dumps(out)
    for full_url, key in target.items():
        text = text.replace(f'"{full_url}"', f'"{key}"')
    twin = json.loads(text)
    twin["type"] = "collection"
    for entry in twin["entry"]:
        key = entry["fullUrl"]
        entry["resource"]["id"] = key.split("/", 1)[1]
        entry["fullUrl"] = f"https://ehr.example.org/fhir/{key}"
        entry.pop("request", None)
    return twin
