"""Charge sources: ChargeItem and Procedure lines, their statuses, overrides, performers, dedupe."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.fhir.r4 import validate_resource
from app.mappers import map_encounter
from tests.mappers.conftest import CREATED
from tests.mappers.factories import (
    CPT,
    LOCAL,
    SNOMED,
    Visit,
    charge_item,
    condition,
    practitioner,
    procedure,
    ref,
    service_request,
)

DAY = "2024-11-20T09:30:00-05:00"


def codes(result) -> list[str]:
    return [item["productOrService"]["coding"][0]["code"] for item in result.claim.get("item", [])]


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def line(result, code: str) -> dict:
    return next(i for i in result.claim["item"] if i["productOrService"]["coding"][0]["code"] == code)


def test_billable_charge_item_is_a_line_with_its_quantity_as_units(run) -> None:
    visit = Visit()
    visit.extra.append(charge_item("ci-1", visit.pat, visit.enc, CPT, "96372", quantity=2))
    result = run(visit.context())
    assert codes(result) == ["99213", "96372"]
    item = line(result, "96372")
    assert item["quantity"] == {"value": 2}
    assert item["unitPrice"]["value"] == 38.0 and item["net"]["value"] == 76.0
    assert result.claim["total"]["value"] == 145.0 + 76.0
    assert item["diagnosisSequence"] == [1]


@pytest.mark.parametrize("status", ["planned", "not-billable", "aborted", "entered-in-error"])
def test_charge_items_that_are_not_billable_are_ignored(run, status: str) -> None:
    visit = Visit()
    visit.extra.append(charge_item("ci-1", visit.pat, visit.enc, CPT, "96372", status=status))
    result = run(visit.context())
    assert codes(result) == ["99213"] and result.findings == []


def test_billed_charge_item_only_goes_on_a_replacement(mappings, chargemaster) -> None:
    visit = Visit()
    visit.extra.append(charge_item("ci-1", visit.pat, visit.enc, CPT, "96372", status="billed"))
    first = map_encounter(visit.context(), mappings=mappings, chargemaster=chargemaster, created=CREATED)
    assert first is not None and codes(first) == ["99213"]
    (note,) = first.findings
    assert note.rule == "charge-capture.charge-already-billed" and note.severity.value == "info"
    again = map_encounter(
        visit.context(), mappings=mappings, chargemaster=chargemaster, created=CREATED, replacement=True
    )
    assert again is not None and codes(again) == ["99213", "96372"] and again.findings == []
    validate_resource(again.claim)
    elsewhere = map_encounter(  # left off by an earlier version as billed already: billed elsewhere, never here
        visit.context(), mappings=mappings, chargemaster=chargemaster, created=CREATED, replacement=True,
        billed_elsewhere=frozenset({"ChargeItem/ci-1"}),
    )  # fmt: skip
    assert elsewhere is not None and codes(elsewhere) == ["99213"]
    assert [f.rule for f in elsewhere.findings] == ["charge-capture.charge-already-billed"]


def test_charge_item_of_unknown_status_is_a_charge_capture_warning(run) -> None:
    visit = Visit()
    visit.extra.append(charge_item("ci-1", visit.pat, visit.enc, CPT, "96372", status="unknown"))
    result = run(visit.context())
    assert codes(result) == ["99213"] and rules(result) == {"charge-capture.charge-item-status"}


def test_charge_item_alone_makes_a_claim(run) -> None:
    visit = Visit(em_code=None)
    visit.extra.append(charge_item("ci-1", visit.pat, visit.enc, CPT, "93000"))
    result = run(visit.context())
    assert codes(result) == ["93000"] and result.em is None


def test_unmapped_charge_item_is_reported_not_dropped(run) -> None:
    visit = Visit()
    visit.extra.append(charge_item("ci-1", visit.pat, visit.enc, SNOMED, "80146002"))
    result = run(visit.context())
    assert codes(result) == ["99213"]
    (finding,) = result.findings
    assert finding.rule == "charge-capture.unmapped-charge-item" and finding.source == "ChargeItem/ci-1"
    assert "80146002" in finding.message


def test_charge_item_coded_like_the_spec_example_is_explained(run) -> None:
    # the R4 spec's own ChargeItem example codes its charge in the German EBM, with no system
    visit = Visit()
    item = charge_item("ci-1", visit.pat, visit.enc, CPT, "x")
    item["code"] = {"coding": [{"code": "01510", "display": "Zusatzpauschale"}]}
    visit.extra.append(item)
    result = run(visit.context())
    assert codes(result) == ["99213"]
    (finding,) = result.findings
    assert finding.source == "ChargeItem/ci-1" and "01510" in finding.message
    assert finding.severity.value in ("error", "warning")


def test_price_override_with_a_reason_is_billed(run) -> None:
    visit = Visit()
    visit.extra.append(
        charge_item(
            "ci-1", visit.pat, visit.enc, CPT, "96372", quantity=2, price_override=50, override_reason="staff discount"
        )
    )
    result = run(visit.context())
    item = line(result, "96372")
    assert item["net"]["value"] == 50.0 and item["unitPrice"]["value"] == 25.0
    assert result.claim["total"]["value"] == 195.0
    assert rules(result) == {"coding.price-override"}


def test_factor_override_with_a_reason_scales_the_price(run) -> None:
    visit = Visit()
    visit.extra.append(
        charge_item("ci-1", visit.pat, visit.enc, CPT, "93000", factor_override=0.8, override_reason="employee")
    )
    result = run(visit.context())
    assert line(result, "93000")["net"]["value"] == 48.0
    assert rules(result) == {"coding.price-override"}


def test_override_without_a_reason_is_flagged_and_not_used(run) -> None:
    visit = Visit()
    visit.extra.append(charge_item("ci-1", visit.pat, visit.enc, CPT, "93000", price_override=1))
    result = run(visit.context())
    assert line(result, "93000")["net"]["value"] == 60.0
    (finding,) = result.findings
    assert finding.rule == "missing-data.price-override-reason" and finding.severity.value == "warning"


def test_performer_other_than_the_rendering_provider_renders_the_line(run) -> None:
    visit = Visit()
    nurse = practitioner("prac-2", npi="1679576722")
    visit.extra += [nurse, charge_item("ci-1", visit.pat, visit.enc, CPT, "96372", performer=nurse)]
    result = run(visit.context())
    team = {m["provider"]["reference"]: m for m in result.claim["careTeam"]}
    assert team["Practitioner/prac-1"]["role"]["coding"][0]["code"] == "primary"
    assert team["Practitioner/prac-2"]["role"]["coding"][0]["code"] == "performing"
    assert line(result, "96372")["careTeamSequence"] == [team["Practitioner/prac-2"]["sequence"]]
    assert line(result, "99213")["careTeamSequence"] == [team["Practitioner/prac-1"]["sequence"]]


def test_performer_who_is_the_rendering_provider_changes_nothing(run) -> None:
    visit = Visit()
    visit.extra.append(charge_item("ci-1", visit.pat, visit.enc, CPT, "96372", performer=visit.prac))
    result = run(visit.context())
    assert len(result.claim["careTeam"]) == 1 and line(result, "96372")["careTeamSequence"] == [1]


def test_completed_procedure_is_a_line_pointing_at_its_reasons(run) -> None:
    visit = Visit()
    knee = condition("cond-2", visit.pat, visit.enc, "M17.11")
    visit.extra += [knee, procedure("proc-1", visit.pat, visit.enc, CPT, "20610", reasons=[knee])]
    result = run(visit.context())
    assert codes(result) == ["99213", "20610"]
    dx = [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in result.claim["diagnosis"]]
    assert line(result, "20610")["diagnosisSequence"] == [dx.index("M17.11") + 1]
    assert line(result, "20610")["servicedDate"] == "2024-11-20"


@pytest.mark.parametrize("status", ["preparation", "in-progress", "not-done", "stopped", "entered-in-error"])
def test_procedures_not_completed_are_not_billed(run, status: str) -> None:
    visit = Visit()
    visit.extra.append(procedure("proc-1", visit.pat, visit.enc, CPT, "20610", status=status))
    result = run(visit.context())
    assert codes(result) == ["99213"] and result.findings == []


def test_procedure_coded_only_in_snomed_is_a_charge_capture_warning(run) -> None:
    visit = Visit()
    visit.extra.append(procedure("proc-1", visit.pat, visit.enc, SNOMED, "80146002"))
    result = run(visit.context())
    assert codes(result) == ["99213"] and rules(result) == {"charge-capture.unmapped-procedure"}


# --- one service, billed once ---------------------------------------------------------------------


def _order(visit: Visit, code: str = "EKG-12"):
    return service_request("sr-1", visit.pat, visit.enc, LOCAL, code)


def test_order_and_its_charge_item_linked_by_service_are_one_line(run) -> None:
    visit = Visit()
    order = _order(visit)
    visit.extra += [order, charge_item("ci-1", visit.pat, visit.enc, CPT, "93000", service=[order], date=DAY)]
    result = run(visit.context())
    assert codes(result) == ["99213", "93000"]
    (merged,) = [f for f in result.findings if f.rule == "duplicate.same-service"]
    assert merged.source == "ChargeItem/ci-1" and "ServiceRequest/sr-1" in merged.message


def test_procedure_based_on_its_order_is_one_line(run) -> None:
    visit = Visit()
    order = _order(visit)
    visit.extra += [order, procedure("proc-1", visit.pat, visit.enc, CPT, "93000", based_on=[order], date=None)]
    result = run(visit.context())
    assert codes(result) == ["99213", "93000"]
    assert rules(result) == {"duplicate.same-service"}


def test_procedure_and_charge_item_with_same_code_and_date_are_one_line(run) -> None:
    visit = Visit()
    visit.extra += [
        procedure("proc-1", visit.pat, visit.enc, CPT, "93000", date=DAY),
        charge_item("ci-1", visit.pat, visit.enc, CPT, "93000", date=DAY, quantity=1),
    ]
    result = run(visit.context())
    assert codes(result) == ["99213", "93000"] and result.claim["total"]["value"] == 205.0


def test_order_procedure_and_charge_item_chain_is_one_line(run) -> None:
    visit = Visit()
    order = _order(visit)
    proc = procedure("proc-1", visit.pat, visit.enc, CPT, "93000", based_on=[order])
    visit.extra += [order, proc, charge_item("ci-1", visit.pat, visit.enc, CPT, "93000", service=[proc])]
    result = run(visit.context())
    assert codes(result) == ["99213", "93000"]


def test_two_procedures_and_one_charge_item_of_a_code_are_two_services(run) -> None:
    visit = Visit()
    visit.extra += [
        procedure("proc-1", visit.pat, visit.enc, CPT, "20610", date=DAY),
        procedure("proc-2", visit.pat, visit.enc, CPT, "20610", date=DAY),
        charge_item("ci-1", visit.pat, visit.enc, CPT, "20610", date=DAY),
    ]
    result = run(visit.context())
    assert codes(result) == ["99213", "20610", "20610"]


def test_same_code_on_another_day_is_another_service(run) -> None:
    visit = Visit()
    visit.extra += [
        procedure("proc-1", visit.pat, visit.enc, CPT, "93000", date=DAY),
        charge_item("ci-1", visit.pat, visit.enc, CPT, "93000", date="2024-11-21T10:00:00-05:00"),
    ]
    result = run(visit.context())
    assert codes(result) == ["99213", "93000", "93000"]


def test_two_orders_of_one_code_stay_two_lines(run) -> None:
    visit = Visit()
    visit.extra += [_order(visit), {**_order(visit), "id": "sr-2"}]
    result = run(visit.context())
    assert codes(result) == ["99213", "93000", "93000"]


def test_linked_charge_with_another_code_bills_the_charge_code_and_warns(run) -> None:
    visit = Visit()
    order = _order(visit)
    visit.extra += [order, charge_item("ci-1", visit.pat, visit.enc, CPT, "96372", service=[order])]
    result = run(visit.context())
    assert codes(result) == ["99213", "96372"]
    assert rules(result) == {"duplicate.same-service", "coding.charge-code-differs"}


def test_merged_line_keeps_the_order_reasons_and_requester(run) -> None:
    visit = Visit()
    knee = condition("cond-2", visit.pat, visit.enc, "M17.11")
    other = practitioner("prac-3", npi="1457397291")
    order = service_request("sr-1", visit.pat, visit.enc, LOCAL, "EKG-12", reasons=[knee], requester=other)
    visit.extra += [knee, other, order, charge_item("ci-1", visit.pat, visit.enc, CPT, "93000", service=[order])]
    result = run(visit.context())
    item = line(result, "93000")
    assert len(item["careTeamSequence"]) == 2 and item["diagnosisSequence"] != [1]


def test_charge_item_quantity_wins_over_the_order_quantity(run) -> None:
    visit = Visit()
    order = {**_order(visit, "INJ-IM"), "quantityQuantity": {"value": 1}}
    visit.extra += [order, charge_item("ci-1", visit.pat, visit.enc, CPT, "96372", quantity=3, service=[order])]
    result = run(visit.context())
    assert line(result, "96372")["quantity"] == {"value": 3}
    assert result.claim["total"]["value"] == float(Decimal("145") + 3 * Decimal("38"))


def test_reference_to_a_charge_item_that_is_not_there_links_nothing(run) -> None:
    visit = Visit()
    item = charge_item("ci-1", visit.pat, visit.enc, CPT, "93000")
    item["service"] = [{"reference": "ServiceRequest/not-here"}, {"display": "no reference"}]
    visit.extra.append(item)
    result = run(visit.context())
    assert codes(result) == ["99213", "93000"] and result.findings == []


def test_charge_item_for_another_encounter_is_not_billed_here(run) -> None:
    visit = Visit()
    item = charge_item("ci-1", visit.pat, visit.enc, CPT, "93000")
    item["context"] = {"reference": "Encounter/other"}
    visit.extra.append(item)
    assert codes(run(visit.context())) == ["99213"]


def test_charge_item_context_as_full_url_reference_links_to_the_encounter(run) -> None:
    visit = Visit()
    item = charge_item("ci-1", visit.pat, visit.enc, CPT, "93000")
    item["context"] = {"reference": "https://ehr.example.org/fhir/Encounter/enc-1/_history/3"}
    visit.extra.append(item)
    assert codes(run(visit.context())) == ["99213", "93000"]


def test_procedure_performer_reference_to_an_organization_is_not_a_line_provider(run) -> None:
    visit = Visit()
    visit.extra.append(procedure("proc-1", visit.pat, visit.enc, CPT, "93000", performer=visit.clinic))
    result = run(visit.context())
    assert line(result, "93000")["careTeamSequence"] == [1] and ref(visit.prac) == {
        "reference": result.claim["careTeam"][0]["provider"]["reference"]
    }


def test_performer_given_as_the_rendering_clinicians_role_is_the_same_clinician(run) -> None:
    visit = Visit()
    role = {"resourceType": "PractitionerRole", "id": "role-1", "practitioner": ref(visit.prac)}
    item = charge_item("ci-1", visit.pat, visit.enc, CPT, "96372")
    item["performer"] = [{"actor": ref(role)}]
    visit.extra += [role, item]
    result = run(visit.context())
    assert len(result.claim["careTeam"]) == 1 and line(result, "96372")["careTeamSequence"] == [1]
