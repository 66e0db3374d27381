"""The clinician's or coder's modifiers reach the claim (issue 11 item 4): billing-modifier extension."""

from __future__ import annotations

from typing import Any

from tests.mappers.factories import CPT, Visit, charge_item, procedure

URL = "http://claimbridge.example.org/fhir/StructureDefinition/billing-modifier"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def ext(code: str, system: str = CPT, *, concept: bool = False) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    return (
        {"url": URL, "valueCodeableConcept": {"coding": [coding]}} if concept else {"url": URL, "valueCoding": coding}
    )


def mods(result: Any, code: str) -> list[str]:
    item = next(i for i in result.claim["item"] if i["productOrService"]["coding"][0]["code"] == code)
    return [m["coding"][0]["code"] for m in item.get("modifier") or ()]


def test_e_m_modifier_25_from_the_encounter_with_a_same_day_procedure(run) -> None:
    visit = Visit()
    visit.enc["extension"] = [ext("25")]
    visit.extra.append(procedure("proc-1", visit.pat, visit.enc, CPT, "20610"))
    result = run(visit.context())
    assert mods(result, "99213") == ["25"] and mods(result, "20610") == []


def test_charge_item_and_procedure_modifiers_pass_through_with_laterality(run) -> None:
    visit = Visit()
    item = charge_item("ci-1", visit.pat, visit.enc, CPT, "99213")
    item["extension"] = [ext("57", concept=True)]
    surgery = procedure("proc-1", visit.pat, visit.enc, CPT, "20610")
    surgery["bodySite"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "6757004"}]}]
    surgery["extension"] = [ext("XS", HCPCS), {"url": "urn:other", "valueString": "ignored"}]
    visit.extra += [item, surgery]
    result = run(visit.context())
    assert mods(result, "99213") == ["57"]
    assert mods(result, "20610") == ["RT", "XS"]


def test_without_modifiers_nothing_is_added(run) -> None:
    result = run(Visit().context())
    assert mods(result, "99213") == []
