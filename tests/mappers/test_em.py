"""E/M level: time vs MDM, new vs established from history, under- and over-coding findings."""

from __future__ import annotations

import pytest

from app.config.mappings import load_mappings
from app.fhir.r4 import validate_resource
from app.mappers import map_encounter
from app.mappers.em import em_code, em_score, time_score
from tests.mappers.conftest import CREATED
from tests.mappers.factories import (
    LOCAL,
    LOINC,
    RXNORM,
    Visit,
    condition,
    encounter,
    medication_request,
    organization,
    ref,
    service_request,
)


def em_rules(result) -> list[str]:
    return sorted(f.rule for f in result.findings)


def add_conditions(visit: Visit, *specs: tuple[str, dict]) -> list[dict]:
    made = []
    for i, (icd, extra) in enumerate(specs, start=2):
        cond = condition(f"cond-{i}", visit.pat, visit.enc, icd, **extra)
        visit.enc["diagnosis"].append({"condition": ref(cond), "rank": i})
        made.append(cond)
    visit.extra += made
    return made


def prior_visit(visit: Visit, start: str, *, status: str = "finished", clinic: dict | None = None) -> dict:
    return encounter(
        f"prior-{start[:10]}", visit.pat, clinic or visit.clinic, visit.prac, start=start, end=start, status=status
    )


@pytest.mark.parametrize(
    ("category", "minutes", "score"),
    [
        ("new", 14, 0),
        ("new", 15, 1),
        ("new", 44, 2),
        ("new", 45, 3),
        ("new", 60, 4),
        ("established", 9, 0),
        ("established", 10, 1),
        ("established", 20, 2),
        ("established", 30, 3),
        ("established", 39, 3),
        ("established", 40, 4),
        ("established", None, 0),
    ],
)
def test_time_thresholds_2024(category: str, minutes: int | None, score: int) -> None:
    assert time_score(category, minutes) == score


def test_code_scores_round_trip() -> None:
    for code in ("99202", "99203", "99204", "99205", "99211", "99212", "99213", "99214", "99215"):
        assert em_code(*em_score(code)) == code


def test_time_basis_supports_a_higher_level_than_billed(run) -> None:
    visit = Visit(em_code="99212", minutes=35)
    result = run(visit.context())
    assert result.em["code"] == "99214" and result.em["basis"] == "time" and result.em["minutes"] == 35
    assert result.em["billed"] == "99212"
    assert "Encounter/enc-1" in result.em["evidence"]
    (finding,) = result.findings
    assert (finding.rule, finding.category, finding.severity) == ("undercoding.em-level", "undercoding", "warning")
    assert finding.location == "Claim.item[0].productOrService" and "99214" in finding.message


def test_time_from_the_rendering_clinicians_participant_periods(run) -> None:
    visit = Visit(em_code="99213", minutes=None)
    visit.enc["participant"][0]["period"] = {"start": "2024-11-20T09:00:00-05:00", "end": "2024-11-20T09:25:00-05:00"}
    visit.enc["participant"].append(
        {
            "individual": {"reference": "Practitioner/other"},
            "period": {"start": "2024-11-20T09:00:00-05:00", "end": "2024-11-20T11:00:00-05:00"},
        }
    )
    result = run(visit.context())
    assert result.em["minutes"] == 25 and result.em["code"] == "99213" and result.findings == []


def test_mdm_moderate_two_chronic_problems_tests_and_prescription(run) -> None:
    visit = Visit(em_code="99213", minutes=None)
    add_conditions(visit, ("I10", {}))
    visit.extra += [
        service_request("sr-a1c", visit.pat, visit.enc, LOINC, "4548-4"),
        service_request("sr-lip", visit.pat, visit.enc, LOINC, "57698-3"),
        service_request("sr-cmp", visit.pat, visit.enc, LOINC, "24323-8"),
        medication_request("mr-rx", visit.pat, visit.enc, "860975", category="community", status="active"),
    ]
    result = run(visit.context())
    assert result.em["mdm"] == {"level": "moderate", "problems": "moderate", "data": "moderate", "risk": "moderate"}
    assert result.em["code"] == "99214" and result.em["basis"] == "mdm"
    assert "MedicationRequest/mr-rx" in result.em["evidence"] and "ServiceRequest/sr-a1c" in result.em["evidence"]
    assert em_rules(result) == ["undercoding.em-level"]


def test_mdm_high_for_a_severe_chronic_exacerbation_and_high_risk_drug(run) -> None:
    visit = Visit(em_code="99215", minutes=None)
    visit.cond["severity"] = {"coding": [{"system": "http://snomed.info/sct", "code": "24484000"}]}
    warfarin = medication_request("mr-w", visit.pat, visit.enc, "855332", category="community", status="active")
    warfarin["medicationCodeableConcept"]["coding"][0]["system"] = RXNORM
    visit.extra.append(warfarin)
    result = run(visit.context())
    assert result.em["mdm"]["problems"] == "high" and result.em["mdm"]["risk"] == "high"
    assert result.em["code"] == "99215" and result.findings == []


def test_mdm_problem_classes(run) -> None:
    visit = Visit(em_code="99212", minutes=None, with_condition=False)
    visit.enc["diagnosis"] = []
    add_conditions(visit, ("J00", {}), ("H10.31", {}))  # two minor problems: low
    result = run(visit.context())
    assert result.em["mdm"]["problems"] == "low"
    visit = Visit(em_code="99212", minutes=None)
    add_conditions(visit, ("R10.9", {"verification": "provisional"}))  # undiagnosed new problem
    assert run(visit.context()).em["mdm"]["problems"] == "moderate"
    visit = Visit(em_code="99212", minutes=None)
    visit.cond["clinicalStatus"] = {"coding": [{"code": "relapse"}]}  # chronic exacerbation
    assert run(visit.context()).em["mdm"]["problems"] == "moderate"


def test_data_counts_external_notes_and_independent_historian(run) -> None:
    visit = Visit(em_code="99213", minutes=None)
    outside = organization("org-outside", "Other Hospital")
    note = {
        "resourceType": "DocumentReference",
        "id": "doc-1",
        "status": "current",
        "custodian": ref(outside),
        "context": {"encounter": [ref(visit.enc)]},
        "content": [],
    }
    own_note = dict(note, id="doc-2", custodian=ref(visit.clinic))
    visit.enc["participant"].append({"individual": {"reference": "RelatedPerson/mother"}})
    visit.extra += [outside, note, own_note, service_request("sr-a1c", visit.pat, visit.enc, LOINC, "4548-4")]
    result = run(visit.context())
    assert result.em["mdm"]["data"] == "moderate"  # test + external note + historian
    assert "DocumentReference/doc-1" in result.em["evidence"]
    assert "DocumentReference/doc-2" not in result.em["evidence"]


def test_minor_procedure_and_referral_risk(run) -> None:
    visit = Visit(em_code="99213", minutes=None)
    visit.extra.append(service_request("sr-knee", visit.pat, visit.enc, LOCAL, "JOINT-INJ-MAJOR"))
    assert run(visit.context()).em["mdm"]["risk"] == "low"
    visit = Visit(em_code="99213", minutes=None)
    visit.extra.append(
        service_request("sr-ref", visit.pat, visit.enc, LOCAL, "CARDIO-REFERRAL", status="active", category="3457005")
    )
    result = run(visit.context())
    assert result.em["mdm"]["risk"] == "low"
    assert [i["productOrService"]["coding"][0]["code"] for i in result.claim["item"]] == ["99213"]
    assert result.findings == []  # a referral is never a charge line, nor an unmapped order


def test_overcoded_em(run) -> None:
    visit = Visit(em_code="99215", minutes=12, with_condition=False)
    visit.enc["diagnosis"] = []
    add_conditions(visit, ("J00", {}))
    result = run(visit.context())
    assert result.em["code"] == "99212"
    (finding,) = result.findings
    assert (finding.rule, finding.category, finding.severity) == ("coding.em-overcoded", "coding", "warning")


def test_established_from_history_of_the_same_organization(run) -> None:
    visit = Visit(em_code="99203", minutes=32)
    visit.history.append(prior_visit(visit, "2023-02-10T10:00:00-05:00"))
    result = run(visit.context())
    assert result.em["patient"] == "established" and result.em["patient_from"] == "history"
    assert result.em["code"] == "99214"
    assert em_rules(result) == ["coding.em-patient-category"]  # levels of different categories not compared


def test_new_patient_when_history_is_old_elsewhere_or_unfinished(run) -> None:
    visit = Visit(em_code="99213", minutes=32)
    other = organization("org-other", "Elsewhere Clinic")
    visit.history += [
        prior_visit(visit, "2021-11-19T10:00:00-05:00"),  # more than 3 years before
        prior_visit(visit, "2024-01-05T10:00:00-05:00", clinic=other),
        prior_visit(visit, "2024-06-05T10:00:00-05:00", status="cancelled"),
        prior_visit(visit, "2024-12-05T10:00:00-05:00"),  # after this visit
    ]
    visit.extra.append(other)
    result = run(visit.context())
    assert result.em["patient"] == "new" and result.em["code"] == "99203"
    assert em_rules(result) == ["coding.em-patient-category"]


def test_no_history_follows_the_billed_category_silently(run) -> None:
    result = run(Visit(em_code="99203", minutes=32).context())
    assert result.em["patient"] == "new" and result.em["patient_from"] == "billed-code"
    assert result.em["code"] == "99203" and result.findings == []


def test_billed_99211_is_not_flagged_for_straightforward_mdm(run) -> None:
    result = run(Visit(em_code="99211", minutes=None).context())
    assert result.em["code"] == "99212" and result.findings == []


def test_billed_code_from_charge_item_when_configured(config_copy, chargemaster) -> None:
    path = config_copy / "mappings" / "professional-claim.yaml"
    text = path.read_text().replace(
        "    resource: Encounter\n    source: Encounter.type.coding\n",
        "    resource: ChargeItem\n    source: ChargeItem.code.coding\n",
    )
    path.write_text(text)
    mappings = load_mappings(config_copy)
    visit = Visit(em_code=None, minutes=22)
    visit.extra.append(
        {
            "resourceType": "ChargeItem",
            "id": "ci-1",
            "status": "billable",
            "subject": ref(visit.pat),
            "context": ref(visit.enc),
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]},
        }
    )
    result = map_encounter(visit.context(), mappings=mappings, chargemaster=chargemaster, created=CREATED)
    assert result is not None
    validate_resource(result.claim)
    assert (
        result.em["billed"] == "99213" and result.claim["item"][0]["productOrService"]["coding"][0]["code"] == "99213"
    )
    assert result.findings == []
