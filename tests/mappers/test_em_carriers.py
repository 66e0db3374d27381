"""The billed E/M level, whichever resource carries it: Encounter.type, a ChargeItem or a Procedure."""

from __future__ import annotations

import pytest

from app.mappers import map_encounter
from tests.mappers.conftest import CREATED
from tests.mappers.factories import CPT, Visit, charge_item, practitioner, procedure

CARRIERS = ["Encounter", "ChargeItem", "Procedure"]


def visit_billing(carrier: str, code: str, *, minutes: int | None) -> Visit:
    """A visit whose E/M ``code`` is recorded on ``carrier`` only."""
    visit = Visit(em_code=code if carrier == "Encounter" else None, minutes=minutes)
    if carrier == "ChargeItem":
        visit.extra.append(charge_item("ci-em", visit.pat, visit.enc, CPT, code))
    elif carrier == "Procedure":
        visit.extra.append(procedure("proc-em", visit.pat, visit.enc, CPT, code))
    return visit


def em_rules(result) -> list[str]:
    return sorted(f.rule for f in result.findings)


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize(
    ("billed", "minutes", "supported", "expected"),
    [
        ("99213", 22, "99213", []),
        ("99212", 35, "99214", ["undercoding.em-level"]),
        ("99215", 12, "99212", ["coding.em-overcoded"]),
        ("99203", 32, "99203", []),
    ],
)
def test_em_level_and_findings_do_not_depend_on_the_carrier(
    run, carrier: str, billed: str, minutes: int, supported: str, expected: list[str]
) -> None:
    result = run(visit_billing(carrier, billed, minutes=minutes).context())
    (em_item,) = [i for i in result.claim["item"] if i["productOrService"]["coding"][0]["code"] == billed]
    assert result.claim["item"][0] is em_item and em_item["quantity"] == {"value": 1}
    assert result.em["billed"] == billed and result.em["code"] == supported
    assert em_rules(result) == expected
    for finding in result.findings:
        assert finding.location == "Claim.item[0].productOrService"
        assert finding.source.split("/")[0] == carrier


@pytest.mark.parametrize("carrier", CARRIERS)
def test_the_claim_is_the_same_whichever_resource_carried_the_level(run, carrier: str) -> None:
    reference = run(visit_billing("Encounter", "99214", minutes=31).context())
    result = run(visit_billing(carrier, "99214", minutes=31).context())
    assert result.claim["item"] == reference.claim["item"] and result.claim["total"] == reference.claim["total"]
    assert {k: v for k, v in result.em.items() if k != "evidence"} == {
        k: v for k, v in reference.em.items() if k != "evidence"
    }


@pytest.mark.parametrize("carrier", ["ChargeItem", "Procedure"])
def test_the_same_level_on_the_encounter_and_a_charge_is_billed_once(run, carrier: str) -> None:
    visit = visit_billing(carrier, "99213", minutes=22)
    visit.enc["type"] = [{"coding": [{"system": CPT, "code": "99213"}]}]
    result = run(visit.context())
    assert [i["productOrService"]["coding"][0]["code"] for i in result.claim["item"]] == ["99213"]
    (dup,) = result.findings
    assert dup.rule == "duplicate.same-service" and dup.severity.value == "info" and dup.source == "Encounter/enc-1"


def test_order_of_carriers_is_encounter_then_charge_item_then_procedure(run) -> None:
    visit = Visit(em_code=None, minutes=22)
    visit.extra += [
        procedure("proc-em", visit.pat, visit.enc, CPT, "99214"),
        charge_item("ci-em", visit.pat, visit.enc, CPT, "99213"),
    ]
    result = run(visit.context())
    assert result.em["billed"] == "99213"
    assert [i["productOrService"]["coding"][0]["code"] for i in result.claim["item"]] == ["99213"]
    (multiple,) = [f for f in result.findings if f.rule == "coding.em-multiple-billed"]
    assert multiple.source == "ChargeItem/ci-em" and "99213, 99214" in multiple.message
    visit.enc["type"] = [{"coding": [{"system": CPT, "code": "99212"}]}]
    assert run(visit.context()).em["billed"] == "99212"


def test_em_charge_item_performer_and_override_apply_to_the_em_line(run) -> None:
    visit = Visit(em_code=None, minutes=22)
    np = practitioner("prac-np", npi="1679576722")
    visit.extra += [
        np,
        charge_item(
            "ci-em", visit.pat, visit.enc, CPT, "99213", performer=np, price_override=120, override_reason="contract"
        ),
    ]
    result = run(visit.context())
    (item,) = result.claim["item"]
    team = {m["sequence"]: m for m in result.claim["careTeam"]}
    assert team[item["careTeamSequence"][0]]["provider"] == {"reference": "Practitioner/prac-np"}
    assert item["net"]["value"] == 120.0 and item["quantity"] == {"value": 1}


def test_not_billable_em_charge_item_is_no_em(mappings, chargemaster) -> None:
    visit = Visit(em_code=None)
    visit.extra.append(charge_item("ci-em", visit.pat, visit.enc, CPT, "99213", status="entered-in-error"))
    assert map_encounter(visit.context(), mappings=mappings, chargemaster=chargemaster, created=CREATED) is None
