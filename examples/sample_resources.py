"""FHIR R4 resources of the sample data, built from the plan's specs (no randomness here).

Shared resources (payers, clinics, clinicians, patients, coverages, prior encounters) come out identical in
every bundle that carries them, so the all-encounters bundle can deduplicate them by ``Type/id``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sample_world as w
import simple_icd_10_cm as cm
from sample_plan import CoverageSpec, PatientSpec, Visit

Resource = dict[str, Any]
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def ref(rtype: str, rid: str, display: str | None = None) -> Resource:
    out: Resource = {"reference": f"{rtype}/{rid}"}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None) -> Resource:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def base(rtype: str, rid: str, updated: str) -> Resource:
    return {"resourceType": rtype, "id": rid, "meta": {"versionId": "1", "lastUpdated": updated}}


def payer_org(key: str) -> Resource:
    payer_id, name, _, _ = w.PAYERS[key]
    line, city, state, zip_code = w.PAYER_ADDRESS[key]
    return {**base("Organization", f"payer-{payer_id.lower()}", w.SHARED_UPDATED),
            "identifier": [{"system": w.PAYER_ID, "value": payer_id}], "active": True,
            "type": [concept(f"{TERMINOLOGY}/organization-type", "pay", "Payer")], "name": name,
            "address": [{"line": [line], "city": city, "state": state, "postalCode": zip_code}]}


def clinic_org(key: str) -> Resource:
    rid, name, npi_base, tin, street, city, zip_code, phone = w.CLINICS[key]
    return {**base("Organization", rid, w.SHARED_UPDATED),
            "identifier": [{"system": w.NPI, "value": w.npi_from(npi_base)},
                           {"type": concept(f"{TERMINOLOGY}/v2-0203", "TAX", "Tax ID number"),
                            "system": w.TIN, "value": tin}],
            "active": True, "type": [concept(f"{TERMINOLOGY}/organization-type", "prov", "Healthcare Provider")],
            "name": name, "telecom": [{"system": "phone", "value": phone, "use": "work"}],
            "address": [{"use": "work", "type": "physical", "line": [street], "city": city, "state": "OH",
                         "postalCode": zip_code, "country": "US"}]}


def practitioner(pid: str) -> list[Resource]:
    """The Practitioner and its PractitionerRole (specialty and billing organisation)."""
    given, family, prefix, npi_base, clinic, taxonomy, specialty, valid = w.PRACTITIONERS[pid]
    name: Resource = {"use": "official", "family": family, "given": [given]}
    if prefix:
        name["prefix"] = [prefix]
    prac = {**base("Practitioner", pid, w.SHARED_UPDATED), "active": True, "name": [name],
            "identifier": [{"system": w.NPI, "value": w.npi_from(npi_base, valid=valid)}]}
    role = {**base("PractitionerRole", pid.replace("prac", "role"), w.SHARED_UPDATED), "active": True,
            "practitioner": ref("Practitioner", pid), "organization": ref("Organization", w.CLINICS[clinic][0]),
            "specialty": [concept(w.TAXONOMY, taxonomy, specialty)]}
    return [prac, role]


def patient(spec: PatientSpec) -> Resource:
    city, zip_code = spec.city
    return {**base("Patient", spec.id, w.SHARED_UPDATED),
            "identifier": [{"use": "usual", "type": concept(f"{TERMINOLOGY}/v2-0203", "MR", "Medical record number"),
                            "system": w.MRN, "value": f"MRN{400100 + spec.num * 7}"}],
            "active": True, "name": [{"use": "official", "family": spec.family, "given": [spec.given]}],
            "telecom": [{"system": "phone", "value": f"216-555-{1000 + spec.num:04d}", "use": "home"}],
            "gender": spec.gender, "birthDate": spec.birth,
            "address": [{"use": "home", "line": [spec.street], "city": city, "state": "OH", "postalCode": zip_code,
                         "country": "US"}]}


def related_person(spec: PatientSpec) -> Resource:
    assert spec.related
    given, family, gender, birth = spec.related
    child = any(c.relationship == "child" for c in spec.coverages)
    role = ("PRN", "parent") if child else ("SPS", "spouse")
    return {**base("RelatedPerson", spec.id.replace("pat", "rp"), w.SHARED_UPDATED),
            "patient": ref("Patient", spec.id), "relationship": [concept(f"{TERMINOLOGY}/v3-RoleCode", *role)],
            "name": [{"use": "official", "family": family, "given": [given]}], "gender": gender,
            "birthDate": birth}


def coverage(spec: PatientSpec, cov: CoverageSpec, index: int) -> Resource:
    payer_id, name, sopt, plan = w.PAYERS[cov.payer]
    subscriber = (ref("Patient", spec.id) if cov.relationship == "self"
                  else ref("RelatedPerson", spec.id.replace("pat", "rp")))
    ident = ({"system": w.MBI, "value": cov.subscriber_id} if cov.payer == "medicare" else
             {"type": concept(f"{TERMINOLOGY}/v2-0203", "MB", "Member Number"),
              "system": f"{w.MEMBER_ID}/{payer_id.lower()}", "value": cov.subscriber_id})
    out = {**base("Coverage", coverage_id(spec, index), w.SHARED_UPDATED), "identifier": [ident],
           "status": "active", "type": {**concept(w.SOPT, sopt), "text": plan}, "subscriber": subscriber,
           "subscriberId": cov.subscriber_id, "beneficiary": ref("Patient", spec.id),
           "relationship": concept(f"{TERMINOLOGY}/subscriber-relationship", cov.relationship),
           "period": {"start": cov.start, **({"end": cov.end} if cov.end else {})},
           "payor": [ref("Organization", f"payer-{payer_id.lower()}", name)]}
    if cov.group:
        out["class"] = [{"type": concept(f"{TERMINOLOGY}/coverage-class", "group"), "value": cov.group}]
    if cov.order:
        out["order"] = cov.order
    return out


def coverage_id(spec: PatientSpec, index: int) -> str:
    return f"cov-{spec.num:03d}-{index}"


def encounter_core(rid: str, *, status: str, vclass: str, em: str, subject: str, prac: str, start: datetime,
                   minutes: int | None, clinic: str, updated: str) -> Resource:
    period = {"start": iso(start), **({"end": iso(start + timedelta(minutes=minutes))} if minutes else {})}
    out = {**base("Encounter", rid, updated),
           "identifier": [{"system": w.VISIT_NUMBER, "value": f"V{start:%Y%m%d}-{rid.split('-', 1)[1]}"}],
           "status": status, "class": {"system": w.ACT_CODE, "code": vclass,
                                        "display": "virtual" if vclass == "VR" else "ambulatory"},
           "type": [concept(w.CPT, em)], "subject": ref("Patient", subject),
           "participant": [{"type": [concept(f"{TERMINOLOGY}/v3-ParticipationType", "PPRF", "primary performer")],
                            "period": period, "individual": ref("Practitioner", prac)}],
           "period": period, "serviceProvider": ref("Organization", w.CLINICS[clinic][0])}
    if minutes:
        out["length"] = {"value": minutes, "unit": "min", "system": w.UCUM, "code": "min"}
    return out


def history_encounters(spec: PatientSpec) -> list[Resource]:
    """Prior finished visits, tagged ``history``: context for new-vs-established, not to be billed again."""
    out = []
    for i, (start, clinic, prac, em) in enumerate(spec.history, start=1):
        enc = encounter_core(f"enc-hist-{spec.num:03d}-{i}", status="finished", vclass="AMB", em=em,
                             subject=spec.id, prac=prac, start=start, minutes=25, clinic=clinic,
                             updated=iso(start + timedelta(hours=3)))
        enc["meta"]["tag"] = [{"system": w.SAMPLE_TAG, "code": "history",
                               "display": "prior visit, already billed: history only"}]
        out.append(enc)
    return out


def updated_of(visit: Visit) -> str:
    return iso(visit.start + timedelta(minutes=visit.minutes + 90 if visit.minutes else 15))


def encounter(visit: Visit) -> Resource:
    enc = encounter_core(visit.id, status=visit.status, vclass=visit.vclass, em=visit.em, subject=visit.patient.id,
                         prac=visit.practitioner, start=visit.start, minutes=visit.minutes, clinic=visit.clinic,
                         updated=updated_of(visit))
    enc["diagnosis"] = [{"condition": ref("Condition", cond_id(visit, i)),
                         "use": concept(f"{TERMINOLOGY}/diagnosis-role", "billing", "Billing"), "rank": i}
                        for i in range(1, len(visit.dx) + 1)]
    if visit.referral:
        enc["basedOn"] = [ref("ServiceRequest", f"ref-{visit.num:03d}")]
    return enc


def cond_id(visit: Visit, i: int) -> str:
    return f"cond-{visit.num:03d}-{i}"


def conditions(visit: Visit) -> list[Resource]:
    out = []
    for i, code in enumerate(visit.dx, start=1):
        chronic = code in w.CHRONIC
        category = ("problem-list-item", "Problem List Item") if chronic else ("encounter-diagnosis",
                                                                               "Encounter Diagnosis")
        cond = {**base("Condition", cond_id(visit, i), updated_of(visit)),
                "clinicalStatus": concept(f"{TERMINOLOGY}/condition-clinical", "active", "Active"),
                "verificationStatus": concept(f"{TERMINOLOGY}/condition-ver-status", "confirmed", "Confirmed"),
                "category": [concept(f"{TERMINOLOGY}/condition-category", *category)],
                "code": concept(w.ICD10, code, cm.get_description(code)), "subject": ref("Patient", visit.patient.id),
                "encounter": ref("Encounter", visit.id), "recordedDate": iso(visit.start),
                "recorder": ref("Practitioner", visit.practitioner)}
        if chronic:
            cond["onsetDateTime"] = f"{visit.start.year - 1 - i}-{visit.start.month:02d}"
        out.append(cond)
    return out


def reason_for(visit: Visit, *, vaccine: bool) -> list[Resource]:
    index = visit.dx.index("Z23") + 1 if vaccine and "Z23" in visit.dx else 1
    return [ref("Condition", cond_id(visit, index))] if visit.dx else []


def service_requests(visit: Visit) -> list[Resource]:
    out = []
    for i, key in enumerate(visit.orders, start=1):
        system, code, display, category = w.ORDERS[key]
        sr = {**base("ServiceRequest", f"sr-{visit.num:03d}-{i}", updated_of(visit)), "status": "completed",
              "intent": "order", "category": [concept(w.SNOMED, *w.SR_CATEGORY[category])],
              "code": concept(system, code, display), "subject": ref("Patient", visit.patient.id),
              "encounter": ref("Encounter", visit.id), "occurrenceDateTime": iso(visit.start),
              "authoredOn": iso(visit.start), "requester": ref("Practitioner", visit.practitioner),
              "reasonReference": reason_for(visit, vaccine=key == "FLU-VAX-ADMIN")}
        if key == "JOINT-INJ-MAJOR" and visit.dx[0] in w.KNEE_SITE:
            sr["bodySite"] = [concept(w.SNOMED, *w.KNEE_SITE[visit.dx[0]])]
        if visit.auth and key.startswith("MRI-"):
            sr["supportingInfo"] = [ref("ClaimResponse", f"auth-{visit.num:03d}")]
        out.append(sr)
    return out


def referral(visit: Visit) -> list[Resource]:
    if not visit.referral:
        return []
    pcp, number = visit.referral
    written = visit.start - timedelta(days=12 + visit.num % 20)
    return [{**base("ServiceRequest", f"ref-{visit.num:03d}", iso(written)),
             "identifier": [{"system": w.REFERRAL_NUMBER, "value": number}], "status": "active",
             "intent": "order", "category": [concept(w.SNOMED, "3457005", "Patient referral")],
             "code": {"text": "Referral to orthopedics"}, "subject": ref("Patient", visit.patient.id),
             "occurrencePeriod": {"start": written.date().isoformat(),
                                  "end": (written + timedelta(days=90)).date().isoformat()},
             "authoredOn": iso(written), "requester": ref("Practitioner", pcp),
             "performer": [ref("Organization", w.CLINICS[visit.clinic][0])],
             "reasonCode": [concept(w.ICD10, visit.dx[0], cm.get_description(visit.dx[0]))],
             "insurance": [ref("Coverage", coverage_id(visit.patient, 1))]}]
