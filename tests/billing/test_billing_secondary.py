"""The claim for the next payer (issue 11 item 5): its id, and the link back to the primary's ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.billing.secondary import calls_for_next_payer, ledger_roots, left_to_patient, primary_claim_of, secondary_claim
from app.mappers.ids import claim_id

RELATED = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"


def primary(cid: str = "cb-primary") -> dict[str, Any]:
    return {
        "resourceType": "Claim",
        "id": cid,
        "status": "active",
        "insurance": [
            {"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/medicare"}, "preAuthRef": ["PA1"]},
            {"sequence": 2, "focal": False, "coverage": {"reference": "Coverage/medicaid"}},
            {"sequence": 3, "focal": False, "coverage": {"reference": "Coverage/supplement"}},
        ],
    }


def response() -> dict[str, Any]:
    return {"resourceType": "ClaimResponse", "id": "r1", "status": "active", "outcome": "complete"}


def build(claim: dict[str, Any], **kw: Any) -> dict[str, Any]:
    built = secondary_claim(claim, response(), encounter="Encounter/e1", payer_id="MCDOH", insurer=None,
                            created="2026-11-20T10:00:00+00:00", **kw)  # fmt: skip
    assert built is not None
    return built


def test_the_secondary_claim_id_is_the_mappers_id_in_the_primary_claims_ehr_scope() -> None:
    assert build(primary())["id"] == claim_id("Encounter/e1", "MCDOH")
    scoped = build(primary(), ehr="north-clinic")["id"]
    assert scoped == claim_id("Encounter/e1", "MCDOH", ehr="north-clinic") != claim_id("Encounter/e1", "MCDOH")


def test_a_secondary_claim_leads_back_to_its_primary_and_a_split_part_does_not() -> None:
    second = build(primary())
    assert [i["focal"] for i in second["insurance"]] == [False, True, False]
    assert "preAuthRef" not in second["insurance"][0]
    assert primary_claim_of(second) == "cb-primary"
    associated = {"coding": [{"system": RELATED, "code": "associated"}]}
    part = {**primary("cb-part"), "related": [{"claim": {"reference": "Claim/cb-primary"}, "relationship": associated}]}
    assert primary_claim_of(part) is None and primary_claim_of(primary()) is None
    tertiary = {**build(second), "id": "cb-third"}
    claims = {"cb-primary": primary(), second["id"]: second, "cb-third": tertiary, "cb-part": part}
    assert ledger_roots(claims) == {"cb-primary": "cb-primary", second["id"]: "cb-primary",
                                    "cb-third": "cb-primary", "cb-part": "cb-part"}  # fmt: skip


def answer(left: str | None) -> dict[str, Any]:
    total = [{"category": {"coding": [{"code": "benefit"}]}, "amount": {"value": 80.0, "currency": "USD"}}]
    if left is not None:
        liability = {"coding": [{"system": "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication",
                                 "code": "memberliability"}]}  # fmt: skip
        total.append({"category": liability, "amount": {"value": float(left), "currency": "USD"}})
    return {**response(), "total": total}


def test_the_next_payer_is_billed_only_when_the_answer_left_something_or_denied() -> None:
    assert calls_for_next_payer(answer("20.00"), "1")  # coinsurance left: the secondary pays it
    assert not calls_for_next_payer(answer("0.00"), "1")  # paid or written off in full: nothing to bill
    assert not calls_for_next_payer(answer("0"), "2")
    assert calls_for_next_payer(answer("0"), "4")  # a denial goes to the next payer whatever it left
    assert calls_for_next_payer(answer(None), "1")  # CLP05 not sent: bill, the next payer decides
    assert not calls_for_next_payer(answer("20.00"), "22")  # never after a reversal
    assert not calls_for_next_payer(answer("20.00"), "19")  # crossover: the payer forwarded it
    assert left_to_patient(answer("12.34")) == Decimal("12.34")
