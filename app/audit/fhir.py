"""``audit_event`` rows → FHIR R4 AuditEvent (pure).

type: DICOM 110110 "Patient Record" for reads of stored data (raw payload views), 110114 "User
Authentication" for sign-ins, else HL7 ``rest``; subtype: claimbridge's action code; action R/U/E.
"""

from __future__ import annotations

from typing import Any

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
ACTION_SYSTEM = "https://claimbridge.dev/fhir/CodeSystem/audit-action"
ENTITY_ID_SYSTEM = "https://claimbridge.dev/fhir/NamingSystem/audit-entity"

_TYPE = {
    "payload-view": {"system": DCM, "code": "110110", "display": "Patient Record"},
    "sign-in": {"system": DCM, "code": "110114", "display": "User Authentication"},
    "sign-in-failed": {"system": DCM, "code": "110114", "display": "User Authentication"},
}
_REST = {"system": EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
_ACTION = {
    "payload-view": "R",
    "override": "U",
    "config-change": "U",
    "replay": "E",
    "sign-in": "E",
    "what-if": "E",
    "reactivate": "E",
}
_FHIR_TYPES = (
    "Claim/",
    "Coverage/",
    "Encounter/",
    "Patient/",
    "Practitioner/",
    "PractitionerRole/",
    "Subscription/",
    "ServiceRequest/",
    "MedicationRequest/",
    "DeviceRequest/",
)


def _reference_or_display(value: str) -> dict[str, str]:
    if value.startswith(_FHIR_TYPES) or value.startswith(("http://", "https://")):
        return {"reference": value.split("/finding/")[0]}
    return {"display": value}


def audit_event(row: dict[str, Any]) -> dict[str, Any]:
    action = str(row["action"])
    entity: dict[str, Any] = {"what": {"identifier": {"system": ENTITY_ID_SYSTEM, "value": row["entity"]}}}
    if str(row["entity"]).startswith(_FHIR_TYPES):
        entity["what"] = {**_reference_or_display(str(row["entity"])), "identifier": entity["what"]["identifier"]}
    details = [{"type": str(k), "valueString": str(v)} for k, v in sorted((row.get("detail") or {}).items())]
    if details:
        entity["detail"] = details
    return {
        "resourceType": "AuditEvent",
        "id": str(row["id"]),
        "type": _TYPE.get(action, _REST),
        "subtype": [{"system": ACTION_SYSTEM, "code": action}],
        "action": _ACTION.get(action, "E"),
        "recorded": row["recorded_at"],
        "outcome": "0" if row.get("outcome") == "success" else "4",
        "agent": [
            {
                "who": _reference_or_display(str(row["actor"])),
                "altId": str(row["actor"]),
                "requestor": True,
                "type": {"text": str(row.get("actor_kind") or "")},
            }
        ],
        "source": {"observer": {"display": "claimbridge"}},
        "entity": [entity],
    }


def audit_bundle(rows: list[dict[str, Any]], *, next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "total": len(rows),
        "entry": [{"fullUrl": f"urn:claimbridge:audit:{r['id']}", "resource": audit_event(r)} for r in rows],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle
