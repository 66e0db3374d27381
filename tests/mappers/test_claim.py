"""Claim content: office visit, labs, imaging, injection with NDC, telehealth, coverages, gaps."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from app.config.mappings import load_mappings
from app.domain.chargemaster import ChargeMaster
from app.fhir.r4 import validate_resource
from app.mappers import claim_id, map_encounter
from app.mappers.claim import POS_SYSTEM
from tests.mappers.conftest import CREATED
from tests.mappers.factories import (
    CPT,
    HCPCS,
    HCPCS_INPUTS,
    LOCAL,
    LOINC,
    Visit,
    condition,
    coverage,
    medication_request,
    organization,
    practitioner,
    ref,
    service_request,
)


def codes(result) -> list[str]:
    return [item["productOrService"]["coding"][0]["code"] for item in result.claim.get("item", [])]


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def test_office_visit_claim_header_and_em_line(run) -> None:
    visit = Visit(em_code="99213", minutes=22)
    result = run(visit.context())
    claim = result.claim
    assert claim["id"] == claim_id("Encounter/enc-1", "60054") == result.claim["identifier"][0]["value"]
    assert claim["identifier"][0]["system"] == "urn:claimbridge:claim"
    assert claim["status"] == "active" and claim["use"] == "claim"
    assert claim["type"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/claim-type",
        "code": "professional",
    }
    assert claim["patient"] == {"reference": "Patient/pat-1"}
    assert claim["provider"] == {"reference": "Organization/org-clinic"}
    assert claim["insurer"] == {"reference": "Organization/org-buckeye"}
    assert claim["billablePeriod"] == {"start": "2024-11-20", "end": "2024-11-20"}
    assert claim["created"] == CREATED.isoformat()
    assert claim["priority"]["coding"][0]["code"] == "normal"
    assert claim["careTeam"] == [
        {
            "sequence": 1,
            "provider": {"reference": "Practitioner/prac-1"},
            "role": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claimcareteamrole", "code": "primary"}]
            },
        }
    ]
    assert claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"] == [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}
    ]
    assert claim["diagnosis"][0]["type"][0]["coding"][0]["code"] == "principal"
    assert claim["insurance"] == [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov-1"}}]
    (item,) = claim["item"]
    assert item["productOrService"]["coding"] == [{"system": CPT, "code": "99213"}]
    assert item["careTeamSequence"] == [1] and item["diagnosisSequence"] == [1]
    assert item["locationCodeableConcept"]["coding"] == [{"system": POS_SYSTEM, "code": "11"}]
    assert item["servicedDate"] == "2024-11-20"
    assert item["unitPrice"] == {"value": 145.0, "currency": "USD"} == item["net"]
    assert item["encounter"] == [{"reference": "Encounter/enc-1"}]
    assert claim["total"] == {"value": 145.0, "currency": "USD"}
    assert result.payer_id == "60054"
    assert result.mapping_version == "code-tables@2024.3+professional-claim@2024.3"
    assert claim["meta"]["tag"][0]["code"] == result.mapping_version
    assert result.findings == []


def test_labs_map_loinc_to_cpt_and_point_at_their_reasons(run) -> None:
    visit = Visit(em_code="99214", minutes=31)
    htn = condition("cond-2", visit.pat, visit.enc, "I10")
    visit.enc["diagnosis"].append({"condition": ref(htn), "rank": 2})
    visit.extra += [
        htn,
        service_request("sr-a1c", visit.pat, visit.enc, LOINC, "4548-4", reasons=[visit.cond]),
        service_request("sr-lipid", visit.pat, visit.enc, LOINC, "57698-3", reasons=[htn, visit.cond]),
        service_request("sr-vp", visit.pat, visit.enc, LOCAL, "VENIPUNCTURE"),
        service_request("sr-cmp", visit.pat, visit.enc, LOINC, "24323-8", reason_codes=["R53.83"]),
    ]
    result = run(visit.context())
    assert codes(result) == ["99214", "83036", "80053", "80061", "36415"]
    items = {i["productOrService"]["coding"][0]["code"]: i for i in result.claim["item"]}
    dx = [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in result.claim["diagnosis"]]
    assert dx == ["E11.9", "I10", "R53.83"]  # a reason code not yet on the claim is added
    assert items["99214"]["diagnosisSequence"] == [1, 2]
    assert items["83036"]["diagnosisSequence"] == [1]
    assert items["80061"]["diagnosisSequence"] == [2, 1]
    assert items["80053"]["diagnosisSequence"] == [3]
    assert items["36415"]["diagnosisSequence"] == [1]  # no reason: the principal
    assert [i["sequence"] for i in result.claim["item"]] == [1, 2, 3, 4, 5]
    assert result.claim["total"]["value"] == 205.0 + 35 + 42 + 48 + 15


def test_imaging_ordered_by_another_clinician_adds_a_referring_care_team_member(run) -> None:
    visit = Visit()
    ordering = practitioner("prac-2", "1679576722")
    visit.extra += [
        ordering,
        service_request("sr-xr", visit.pat, visit.enc, LOCAL, "XR-CHEST-2V", requester=ordering),
        service_request("sr-ekg", visit.pat, visit.enc, LOCAL, "EKG-12", requester=visit.prac),
    ]
    result = run(visit.context())
    team = result.claim["careTeam"]
    assert [(m["provider"]["reference"], m["role"]["coding"][0]["code"]) for m in team] == [
        ("Practitioner/prac-1", "primary"),
        ("Practitioner/prac-2", "referring"),
    ]
    items = {i["productOrService"]["coding"][0]["code"]: i for i in result.claim["item"]}
    assert items["71046"]["careTeamSequence"] == [1, 2]
    assert items["93000"]["careTeamSequence"] == [1]  # requester = rendering: no second entry


def test_injection_with_ndc_and_units_from_dose(run) -> None:
    visit = Visit()
    visit.extra += [
        service_request("sr-inj", visit.pat, visit.enc, LOCAL, "INJ-IM"),
        medication_request("mr-cef", visit.pat, visit.enc, "1665021", dose=1, unit="g"),
        medication_request("mr-ket", visit.pat, visit.enc, "1665060", dose=30, unit="mg"),
        medication_request("mr-rx", visit.pat, visit.enc, "1665060", dose=10, category="community", status="active"),
    ]
    result = run(visit.context())
    assert codes(result) == ["99213", "96372", "J0696", "J1885"]  # the community prescription is no line
    drug = result.claim["item"][2]
    assert drug["productOrService"]["coding"][0]["system"] == HCPCS
    assert drug["quantity"] == {"value": 4}  # 1 g / 250 mg
    assert drug["unitPrice"]["value"] == 18.0 and drug["net"]["value"] == 72.0
    assert drug["detail"] == [
        {
            "sequence": 1,
            "productOrService": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "00409733201"}]},
            "quantity": {"value": 1, "unit": "UN", "system": "http://unitsofmeasure.org", "code": "{package}"},
        }
    ]  # the NDC package's billing unit (one 1 g vial), not the dose unit (issue 11 item 7)
    assert drug["extension"][0]["valueDecimal"] == 0  # single-dose vial, nothing discarded
    ketorolac = result.claim["item"][3]
    assert ketorolac["detail"][0]["quantity"]["value"] == 1 and ketorolac["detail"][0]["quantity"]["unit"] == "ML"
    assert result.claim["item"][3]["quantity"] == {"value": 2}  # 30 mg / 15 mg


def test_partial_billing_unit_rounds_up_and_vaccine_is_one_unit(run) -> None:
    visit = Visit()
    visit.extra += [
        medication_request("mr-tri", visit.pat, visit.enc, "1649574", dose=25),
        medication_request("mr-vax", visit.pat, visit.enc, "2479840", dose=0.5, unit="mL"),
    ]
    result = run(visit.context())
    items = {i["productOrService"]["coding"][0]["code"]: i for i in result.claim["item"]}
    assert items["J3301"]["quantity"] == {"value": 3}
    assert items["90686"]["quantity"] == {"value": 1}
    assert items["90686"]["productOrService"]["coding"][0]["system"] == CPT
    assert items["90686"]["detail"][0]["productOrService"]["coding"][0]["code"] == "49281042350"


def test_drug_without_dose_is_billed_one_unit_with_a_warning(run) -> None:
    visit = Visit()
    visit.extra.append(medication_request("mr-tri", visit.pat, visit.enc, "1649574"))
    result = run(visit.context())
    assert result.claim["item"][1]["quantity"] == {"value": 1}
    (finding,) = [f for f in result.findings if f.rule == "missing-data.drug-dose"]
    assert finding.source == "MedicationRequest/mr-tri" and finding.severity == "warning"


def test_telehealth_visit_gets_pos_10_and_modifier_95(run) -> None:
    result = run(Visit(cls="VR", em_code="99214", minutes=30).context())
    (item,) = result.claim["item"]
    assert item["locationCodeableConcept"]["coding"][0]["code"] == "10"
    assert item["modifier"] == [{"coding": [{"system": CPT, "code": "95"}]}]


def test_inpatient_visit_has_pos_21_and_hospitalized_supporting_info(run) -> None:
    visit = Visit(cls="IMP")
    visit.cond["onsetDateTime"] = "2024-11-18"
    result = run(visit.context())
    assert result.claim["item"][0]["locationCodeableConcept"]["coding"][0]["code"] == "21"
    info = result.claim["supportingInfo"]
    assert [i["category"]["coding"][0]["code"] for i in info] == ["hospitalized", "onset"]
    assert info[1]["timingDate"] == "2024-11-18" and info[1]["sequence"] == 2


def test_two_coverages_ordered_with_one_focal(run) -> None:
    visit = Visit()
    medicare = organization("org-mcr", "Medicare", payer_id="01112")
    visit.extra += [
        medicare,
        coverage("cov-0", visit.pat, medicare, order=2),
        coverage("cov-old", visit.pat, medicare, order=3, status="cancelled"),
    ]
    result = run(visit.context())
    assert result.claim["insurance"] == [
        {"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov-1"}},
        {"sequence": 2, "focal": False, "coverage": {"reference": "Coverage/cov-0"}},
    ]
    assert result.payer_id == "60054"
    assert result.claim["insurer"] == {"reference": "Organization/org-buckeye"}


def test_payer_id_falls_back_to_any_identifier(run) -> None:
    visit = Visit()
    visit.payer["identifier"] = [{"system": "urn:oid:1.2.3", "value": "PAYX"}]
    result = run(visit.context())
    assert result.payer_id == "PAYX"
    assert result.claim["id"] == claim_id("Encounter/enc-1", "PAYX")


def test_unmapped_order_is_a_charge_capture_finding_not_dropped_silently(run) -> None:
    visit = Visit()
    visit.extra += [
        service_request("sr-nut", visit.pat, visit.enc, LOCAL, "NUTRITION-CONSULT"),
        service_request("sr-open", visit.pat, visit.enc, LOCAL, "NUTRITION-CONSULT", status="active"),
        medication_request("mr-unknown", visit.pat, visit.enc, "999999", dose=5),
    ]
    result = run(visit.context())
    assert codes(result) == ["99213"]
    found = {(f.rule, f.source, f.category, f.severity, f.location) for f in result.findings}
    assert found == {
        ("charge-capture.unmapped-order", "ServiceRequest/sr-nut", "charge-capture", "warning", "ServiceRequest.code"),
        (
            "charge-capture.unmapped-drug",
            "MedicationRequest/mr-unknown",
            "charge-capture",
            "warning",
            "MedicationRequest.medicationCodeableConcept",
        ),
    }
    assert all("NUTRITION-CONSULT" in f.message for f in result.findings if f.rule.endswith("order"))


def test_unpriced_code_is_an_error_and_its_line_stays_off(run) -> None:
    visit = Visit()
    visit.extra.append(service_request("sr-x", visit.pat, visit.enc, CPT, "93005"))
    result = run(visit.context())
    assert codes(result) == ["99213"]
    (finding,) = result.findings  # the only finding
    assert finding.rule == "missing-data.no-charge-price"
    assert finding.severity == "error" and finding.category == "missing-data"
    assert "93005" in finding.message and finding.source == "ServiceRequest/sr-x"
    assert finding.fix
    assert result.claim["total"]["value"] == 145.0


def test_unpriced_em_line_keeps_the_em_result_and_the_order_lines(mappings) -> None:
    visit = Visit(em_code="99205")
    visit.extra.append(service_request("sr-a1c", visit.pat, visit.enc, LOINC, "4548-4"))
    prices = ChargeMaster(charges={"83036": Decimal("35.00")})
    result = map_encounter(visit.context(), mappings=mappings, chargemaster=prices, created=CREATED)
    assert result is not None
    validate_resource(result.claim)
    assert codes(result) == ["83036"]
    assert result.em is not None and result.em["billed"] == "99205"
    assert "missing-data.no-charge-price" in rules(result)


def test_missing_coverage_patient_and_providers_are_findings_and_the_claim_stays_valid(run) -> None:
    visit = Visit(with_coverage=False)
    visit.enc["subject"] = {"reference": "Patient/ghost"}
    del visit.enc["serviceProvider"]
    del visit.enc["participant"]
    result = run(visit.context())
    assert {
        "missing-data.no-coverage",
        "missing-data.no-patient",
        "missing-data.no-billing-provider",
        "missing-data.no-rendering-provider",
    } <= rules(result)
    assert all(f.severity == "error" for f in result.findings if f.rule.startswith("missing-data.no-"))
    assert result.payer_id is None
    assert result.claim["id"] == claim_id("Encounter/enc-1", "")
    assert result.claim["insurance"][0]["coverage"]["extension"][0]["valueCode"] == "unknown"
    assert "careTeamSequence" not in result.claim["item"][0]


def test_no_diagnosis_and_uncoded_condition(run) -> None:
    visit = Visit(with_condition=False)
    visit.extra.append(condition("cond-snomed", visit.pat, visit.enc, None, snomed="38341003"))
    result = run(visit.context())
    assert {"missing-data.no-diagnosis", "missing-data.diagnosis-not-icd10"} <= rules(result)
    assert "diagnosis" not in result.claim


def test_payer_without_id(run) -> None:
    visit = Visit()
    visit.payer["identifier"] = []
    result = run(visit.context())
    assert "missing-data.no-payer-id" in rules(result)
    assert result.payer_id is None


def test_unfinished_encounter_still_maps(run) -> None:
    result = run(Visit(status="in-progress").context())
    assert codes(result) == ["99213"]


def test_nothing_to_bill_returns_none(mappings, chargemaster) -> None:
    visit = Visit(em_code=None)
    visit.extra.append(service_request("sr-open", visit.pat, visit.enc, LOINC, "4548-4", status="active"))
    assert map_encounter(visit.context(), mappings=mappings, chargemaster=chargemaster, created=CREATED) is None


def test_orders_without_em_still_make_a_claim(run) -> None:
    visit = Visit(em_code=None)
    visit.extra.append(service_request("sr-a1c", visit.pat, visit.enc, LOINC, "4548-4"))
    result = run(visit.context())
    assert codes(result) == ["83036"] and result.em is None


def full_visit() -> Visit:
    visit = Visit(em_code="99214", minutes=33)
    ordering = practitioner("prac-2", "1679576722")
    medicare = organization("org-mcr", "Medicare", payer_id="01112")
    visit.extra += [
        ordering,
        medicare,
        coverage("cov-2", visit.pat, medicare, order=2),
        service_request("sr-a1c", visit.pat, visit.enc, LOINC, "4548-4", reasons=[visit.cond]),
        service_request("sr-xr", visit.pat, visit.enc, LOCAL, "XR-CHEST-2V", requester=ordering),
        service_request("sr-knee", visit.pat, visit.enc, LOCAL, "JOINT-INJ-MAJOR", body_site="6757004"),
        service_request("sr-nut", visit.pat, visit.enc, LOCAL, "NUTRITION-CONSULT"),
        medication_request("mr-tri", visit.pat, visit.enc, "1649574", dose=40),
    ]
    return visit


@pytest.mark.parametrize("system", HCPCS_INPUTS)
def test_hcpcs_is_read_in_every_known_uri_and_billed_in_the_registered_one(run, system: str) -> None:
    visit = Visit()
    visit.extra.append(service_request("sr-j", visit.pat, visit.enc, system, "J3301"))
    result = run(visit.context())
    (line,) = [i for i in result.claim["item"] if i["productOrService"]["coding"][0]["code"] == "J3301"]
    assert line["productOrService"]["coding"][0]["system"] == "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def test_same_input_same_claim(run) -> None:
    first = run(full_visit().context())
    second = run(full_visit().context())
    assert first == second
    assert codes(first) == ["99214", "83036", "20610", "71046", "J3301"]
    knee = first.claim["item"][2]
    assert knee["modifier"] == [{"coding": [{"system": HCPCS, "code": "RT"}]}]


def test_irrelevant_fields_and_resource_order_do_not_change_the_claim(run) -> None:
    baseline = run(full_visit().context())
    for seed in range(5):
        assert run(full_visit().context(rng=random.Random(seed))) == baseline


def test_created_must_be_timezone_aware(mappings, chargemaster) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        map_encounter(
            Visit().context(), mappings=mappings, chargemaster=chargemaster, created=CREATED.replace(tzinfo=None)
        )


def test_claim_id_formula() -> None:
    import hashlib

    expected = "cb-" + hashlib.sha256(b"Encounter/e1|60054").hexdigest()[:24]
    assert claim_id("Encounter/e1", "60054") == expected
    assert claim_id("Encounter/e1", "01112") != expected


def test_diagnosis_order_rank_then_reasons_then_linked_conditions(run) -> None:
    visit = Visit(with_condition=False)
    second = condition("cond-b", visit.pat, visit.enc, "I10")
    first = condition("cond-a", visit.pat, visit.enc, "E78.5")
    unranked = condition("cond-c", visit.pat, visit.enc, "M17.11")
    reason = condition("cond-r", visit.pat, None, "R51.9")
    linked = condition("cond-0", visit.pat, visit.enc, "Z79.4")
    duplicate = condition("cond-dup", visit.pat, visit.enc, "I10")
    visit.enc["diagnosis"] = [
        {"condition": ref(unranked)},
        {"condition": ref(second), "rank": 2},
        {"condition": ref(first), "rank": 1},
    ]
    visit.enc["reasonReference"] = [ref(reason)]
    visit.extra += [second, first, unranked, reason, linked, duplicate]
    result = run(visit.context())
    dx = [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in result.claim["diagnosis"]]
    assert dx == ["E78.5", "I10", "M17.11", "R51.9", "Z79.4"]
    assert [d["sequence"] for d in result.claim["diagnosis"]] == [1, 2, 3, 4, 5]
    assert result.claim["item"][0]["diagnosisSequence"] == [1, 2, 3, 4]  # at most 4 pointers


def test_order_quantity_multiplies_the_net(run) -> None:
    visit = Visit()
    visit.extra.append(service_request("sr-vp", visit.pat, visit.enc, LOCAL, "VENIPUNCTURE", quantity=2))
    item = run(visit.context()).claim["item"][1]
    assert item["quantity"] == {"value": 2}
    assert item["unitPrice"]["value"] == 15.0 and item["net"]["value"] == 30.0


def test_telehealth_pos_is_configurable(config_copy, chargemaster) -> None:
    path = config_copy / "mappings" / "code-tables.yaml"
    path.write_text(path.read_text().replace('      VR: "10"', '      VR: "02"'))
    result = map_encounter(
        Visit(cls="VR").context(), mappings=load_mappings(config_copy), chargemaster=chargemaster, created=CREATED
    )
    assert result is not None
    assert result.claim["item"][0]["locationCodeableConcept"]["coding"][0]["code"] == "02"


def test_place_of_service_from_the_location_when_the_class_is_not_mapped(run) -> None:
    visit = Visit(cls="FLD")
    location = {
        "resourceType": "Location",
        "id": "loc-1",
        "type": [{"coding": [{"system": POS_SYSTEM, "code": "22"}]}],
    }
    visit.enc["location"] = [{"location": ref(location)}]
    visit.extra.append(location)
    result = run(visit.context())
    assert result.claim["item"][0]["locationCodeableConcept"]["coding"][0]["code"] == "22"
    visit = Visit(cls="FLD")
    result = run(visit.context())
    assert "missing-data.no-place-of-service" in rules(result)
    assert "locationCodeableConcept" not in result.claim["item"][0]


def test_the_locations_pos_wins_over_the_encounter_class_but_not_for_telehealth(run) -> None:
    location = {"resourceType": "Location", "id": "hopd", "type": [{"coding": [{"system": POS_SYSTEM, "code": "22"}]}]}
    for cls, expected in (("AMB", "22"), ("VR", "10")):
        visit = Visit(cls=cls)
        visit.enc["location"] = [{"location": ref(location)}]
        visit.extra.append(location)
        result = run(visit.context())
        assert result.claim["item"][0]["locationCodeableConcept"]["coding"][0]["code"] == expected, cls
