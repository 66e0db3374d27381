"""Per-visit clinical and financial records: medications, authorizations, notes, eligibility answers.

:func:`resources_for` assembles everything one encounter's bundle holds, in a readable order.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import sample_world as w
from sample_plan import Visit, at
from sample_resources import (
    TERMINOLOGY,
    Resource,
    base,
    clinic_org,
    concept,
    conditions,
    coverage,
    coverage_id,
    encounter,
    history_encounters,
    iso,
    patient,
    payer_org,
    practitioner,
    reason_for,
    ref,
    referral,
    related_person,
    service_requests,
    updated_of,
)

MR_CATEGORY = f"{TERMINOLOGY}/medicationrequest-category"
NOTE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
AUTH_CODES = {"MRI-LSPINE-WO": "72148", "MRI-BRAIN-WWO": "70553"}


def visit_links(visit: Visit, rid: str) -> Resource:
    return {**base("MedicationRequest", rid, updated_of(visit)), "intent": "order",
            "subject": ref("Patient", visit.patient.id), "encounter": ref("Encounter", visit.id),
            "authoredOn": iso(visit.start), "requester": ref("Practitioner", visit.practitioner)}


def medication_requests(visit: Visit) -> list[Resource]:
    """In-office drugs (completed, outpatient, with a dose) then community prescriptions (active)."""
    out = []
    for i, (key, dose) in enumerate(visit.drugs, start=1):
        rxnorm, display, route, route_display, unit = w.DRUGS[key]
        given = f"{dose:g} {unit} " if dose is not None else ""
        dosage: Resource = {"text": f"{given}{route_display.lower()}, given once in the office",
                            "route": concept(w.SNOMED, route, route_display)}
        if dose is not None:
            dosage["doseAndRate"] = [{"doseQuantity": {"value": dose, "unit": unit, "system": w.UCUM,
                                                       "code": unit}}]
        out.append({**visit_links(visit, f"mr-{visit.num:03d}-{i}"), "status": "completed",
                    "category": [concept(MR_CATEGORY, "outpatient", "Outpatient")],
                    "medicationCodeableConcept": {**concept(w.RXNORM, rxnorm, display), "text": display},
                    "reasonReference": reason_for(visit, vaccine=key == "flu-vaccine"),
                    "dosageInstruction": [dosage]})
    for i, key in enumerate(visit.rx, start=len(visit.drugs) + 1):
        rxnorm, display, sig = w.PRESCRIPTIONS[key]
        form = "capsule" if "Capsule" in display else "tablet"
        out.append({**visit_links(visit, f"mr-{visit.num:03d}-{i}"), "status": "active",
                    "category": [concept(MR_CATEGORY, "community", "Community")],
                    "medicationCodeableConcept": {**concept(w.RXNORM, rxnorm, display), "text": display},
                    "reasonReference": reason_for(visit, vaccine=False),
                    "dosageInstruction": [{"text": sig, "route": concept(w.SNOMED, "26643006", "Oral route")}],
                    "dispenseRequest": {"numberOfRepeatsAllowed": 3,
                                        "quantity": {"value": 30, "unit": form}}})
    return out


def authorization(visit: Visit) -> list[Resource]:
    """The payer's prior-authorization answer (ClaimResponse with preAuthRef) for an imaging order."""
    if not visit.auth:
        return []
    payer_id = w.PAYERS[visit.patient.coverages[0].payer][0]
    granted = visit.start - timedelta(days=6)
    return [{**base("ClaimResponse", f"auth-{visit.num:03d}", iso(granted)), "status": "active",
             "type": concept(f"{TERMINOLOGY}/claim-type", "professional", "Professional"),
             "use": "preauthorization", "patient": ref("Patient", visit.patient.id), "created": iso(granted),
             "insurer": ref("Organization", f"payer-{payer_id.lower()}"),
             "requestor": ref("Organization", w.CLINICS[visit.clinic][0]), "outcome": "complete",
             "disposition": "Certified", "preAuthRef": visit.auth,
             "preAuthPeriod": {"start": granted.date().isoformat(),
                               "end": (granted + timedelta(days=60)).date().isoformat()},
             "addItem": [{"productOrService": concept(w.CPT, AUTH_CODES[o]),
                          "quantity": {"value": 1},
                          "adjudication": [{"category": concept(f"{TERMINOLOGY}/adjudication", "submitted")}]}
                         for o in visit.orders if o in AUTH_CODES],
             "insurance": [{"sequence": 1, "focal": True,
                            "coverage": ref("Coverage", coverage_id(visit.patient, 1))}]}]


def note_text(visit: Visit) -> str:
    given, family, prefix, *_ = w.PRACTITIONERS[visit.practitioner]
    kind = "Telehealth (video) visit" if visit.vclass == "VR" else "Office visit"
    lines = [f"SYNTHETIC SAMPLE NOTE - no real patient. Encounter {visit.id}.",
             f"{kind} on {visit.start:%Y-%m-%d} with {prefix} {given} {family}".replace("  ", " ") + ".",
             "Assessment: " + "; ".join(visit.dx) + "."]
    if visit.orders:
        lines.append("Ordered and completed today: " + ", ".join(visit.orders) + ".")
    for key, dose in visit.drugs:
        lines.append(f"Administered in office: {w.DRUGS[key][1]}" + (f", {dose:g} {w.DRUGS[key][4]}."
                                                                     if dose is not None else "."))
    if visit.rx:
        lines.append("Prescribed: " + ", ".join(w.PRESCRIPTIONS[k][1] for k in visit.rx) + ".")
    if visit.minutes:
        lines.append(f"Total time on the date of the encounter: {visit.minutes} minutes.")
    return "\n".join(lines) + "\n"


def visit_note(visit: Visit) -> list[Resource]:
    if not visit.note or not visit.minutes:
        return []
    end = iso(visit.start + timedelta(minutes=visit.minutes))
    doc = {**base("DocumentReference", f"note-{visit.num:03d}", updated_of(visit)), "status": "current",
           "docStatus": visit.note, "type": concept(w.LOINC, "11506-3", "Progress note"),
           "category": [concept(NOTE_CATEGORY, "clinical-note", "Clinical Note")],
           "subject": ref("Patient", visit.patient.id), "date": end,
           "author": [ref("Practitioner", visit.practitioner)],
           "custodian": ref("Organization", w.CLINICS[visit.clinic][0]),
           "content": [{"attachment": {"contentType": "text/plain", "language": "en-US", "title": "Visit note",
                                       "creation": end,
                                       "data": base64.b64encode(note_text(visit).encode()).decode()}}],
           "context": {"encounter": [ref("Encounter", visit.id)],
                       "period": {"start": iso(visit.start), "end": end}}}
    if visit.note == "final":
        doc["authenticator"] = ref("Practitioner", visit.practitioner)
    return [doc]


def eligibility(visit: Visit) -> list[Resource]:
    """One CoverageEligibilityResponse per coverage: fresh, stale (months old), inactive or missing."""
    if visit.eligibility == "missing":
        return []
    out = []
    checked_day = visit.start.date() - timedelta(days=visit.elig_days)
    checked = min(at(checked_day, -30 + 5 * visit.num % 60), visit.start - timedelta(minutes=10))
    for i, cov in enumerate(visit.patient.coverages, start=1):
        payer_id = w.PAYERS[cov.payer][0]
        inforce = visit.eligibility != "inactive"
        out.append({**base("CoverageEligibilityResponse", f"elig-{visit.num:03d}-{i}", iso(checked)),
                    "status": "active", "purpose": ["validation", "benefits"],
                    "patient": ref("Patient", visit.patient.id),
                    "servicedDate": (checked_day if visit.eligibility == "stale" else visit.start.date()).isoformat(),
                    "created": iso(checked),
                    "request": {"identifier": {"system": w.ELIG_REQUEST, "value": f"ER-{visit.num:03d}-{i}"}},
                    "outcome": "complete",
                    "disposition": "Coverage active" if inforce else f"Coverage terminated {cov.end}",
                    "insurer": ref("Organization", f"payer-{payer_id.lower()}"),
                    "insurance": [{"coverage": ref("Coverage", coverage_id(visit.patient, i)),
                                   "inforce": inforce}]})
    return out


def resources_for(visit: Visit) -> list[Resource]:
    """Every resource of one encounter's bundle: the encounter first, prior visits (history) last."""
    spec = visit.patient
    pracs = list(dict.fromkeys([visit.practitioner, *([visit.referral[0]] if visit.referral else []),
                                *(h[2] for h in spec.history)]))
    clinics = dict.fromkeys([visit.clinic, *(w.PRACTITIONERS[p][4] for p in pracs)])
    out = [encounter(visit), patient(spec), *([related_person(spec)] if spec.related else [])]
    out += [coverage(spec, c, i) for i, c in enumerate(spec.coverages, start=1)]
    out += [payer_org(p) for p in dict.fromkeys(c.payer for c in spec.coverages)]
    out += [clinic_org(c) for c in clinics]
    out += [r for p in pracs for r in practitioner(p)]
    out += conditions(visit) + referral(visit) + service_requests(visit) + medication_requests(visit)
    out += authorization(visit) + visit_note(visit) + eligibility(visit) + history_encounters(spec)
    return out
