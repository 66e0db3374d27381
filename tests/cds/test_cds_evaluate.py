"""Order-time answers from the claim pipeline's payer profiles, code mapping and prior-auth rules (no I/O)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from app.cds.request import CdsInputError
from app.cds.service import CdsRunner
from app.config.loader import load_config
from app.evaluate import check_resources
from tests.cds.hooks import (
    check_response,
    coverage,
    coverage_informations,
    order_sign,
    searchset,
    service_request,
    with_coverage,
)
from tests.pas_fixtures import review_item

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "config")
TODAY = date(2026, 12, 2)


def runner() -> CdsRunner:
    return CdsRunner.for_config(CONFIG, today=lambda: TODAY)


def call(body: dict[str, Any], service: str | None = None) -> dict[str, Any]:
    response = runner().call(service, body)
    check_response(response)
    return response


def approved(number: str, code: str, *, patient: str = "p1") -> dict[str, Any]:
    item = review_item(1, "A1", number=number, code=code, period=("2026-11-01", "2027-02-28"))
    return {
        "resourceType": "ClaimResponse",
        "id": f"cr-{number}",
        "status": "active",
        "use": "preauthorization",
        "outcome": "complete",
        "patient": {"reference": f"Patient/{patient}"},
        "item": [item],
    }


def test_a_code_on_the_payers_list_needs_authorization_with_a_card_and_coverage_information() -> None:
    response = call(with_coverage([service_request("sr1", "72148"), service_request("sr2", "99213")]))
    info = coverage_informations(response)
    assert info["ServiceRequest/sr1"]["covered"] == ["covered"]
    assert info["ServiceRequest/sr1"]["pa-needed"] == ["auth-needed"]
    assert info["ServiceRequest/sr1"]["doc-needed"] == ["clinical"] and info["ServiceRequest/sr1"]["doc-purpose"] == [
        "withpa"
    ]
    assert info["ServiceRequest/sr1"]["coverage"] == [{"reference": "Coverage/cov1"}]
    assert info["ServiceRequest/sr2"]["pa-needed"] == ["no-auth"]
    [card] = response["cards"]
    assert card["summary"] == "Prior authorization required by Buckeye Mutual Health Plan for 72148"
    assert card["source"]["label"] == "Buckeye Mutual Health Plan"
    assert card["extension"]["davinci-crd.associated-resource"] == [{"reference": "ServiceRequest/sr1"}]
    assert card["suggestions"][0]["actions"][0]["resource"]["focus"] == {"reference": "ServiceRequest/sr1"}


def test_an_authorization_on_file_satisfies_the_order_and_names_its_number() -> None:
    body = with_coverage([service_request("sr1", "72148")])
    body["prefetch"]["authorizations"] = searchset([approved("PA-1", "72148")])
    info = coverage_informations(call(body))["ServiceRequest/sr1"]
    assert info["pa-needed"] == ["satisfied"] and info["satisfied-pa-id"] == ["PA-1"]


@pytest.mark.parametrize(("action", "patient"), [("A3", "p1"), ("A4", "p1"), ("A1", "someone-else")])
def test_a_denied_pended_or_other_patients_authorization_does_not_satisfy(action: str, patient: str) -> None:
    body = with_coverage([service_request("sr1", "72148")])
    denied = approved("PA-2", "72148", patient=patient)
    denied["item"] = [review_item(1, action, number="PA-2", code="72148")]
    body["prefetch"]["authorizations"] = searchset([denied])
    assert coverage_informations(call(body))["ServiceRequest/sr1"]["pa-needed"] == ["auth-needed"]


def test_units_condition_of_the_payer_list_applies_at_order_time() -> None:
    response = call(with_coverage([service_request("one", "20610", units=1), service_request("two", "20610", units=2)]))
    info = coverage_informations(response)
    assert info["ServiceRequest/one"]["pa-needed"] == ["no-auth"]
    assert info["ServiceRequest/two"]["pa-needed"] == ["auth-needed"]


def test_billing_options_some_needing_authorization_make_it_conditional() -> None:
    order = service_request("sr1", "99213")
    option = {
        "url": "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-billing-options",
        "valueCodeableConcept": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "70551"}]},
    }
    order["code"]["extension"] = [option]
    info = coverage_informations(call(with_coverage([order])))["ServiceRequest/sr1"]
    assert info["pa-needed"] == ["conditional"] and info["info-needed"] == ["detail-code"]
    assert info["billingCode"] == [{"system": "http://www.ama-assn.org/go/cpt", "code": "70551"}]


def test_coverage_info_off_returns_no_system_action_and_unknown_options_are_ignored() -> None:
    response = call(with_coverage([service_request("sr1", "72148")], config={"coverage-info": False, "foo": True}))
    assert "systemActions" not in response and len(response["cards"]) == 1
    assert "systemActions" in call(with_coverage([service_request("sr1", "72148")], config={"foo": True}))


def test_no_active_coverage_is_not_covered_with_the_crd_reason() -> None:
    body = order_sign([service_request("sr1", "72148")], prefetch={"coverage": searchset([])})
    info = coverage_informations(call(body))["ServiceRequest/sr1"]
    assert info["covered"] == ["not-covered"] and "pa-needed" not in info
    assert info["reason"][0]["coding"][0]["code"] == "coverage-not-found"


def test_coverage_not_prefetched_offline_is_indeterminate_with_a_technical_reason_never_an_error() -> None:
    response = call(order_sign([service_request("sr1", "72148")]))
    info = coverage_informations(response)["ServiceRequest/sr1"]
    assert info["covered"] == ["indeterminate"] and info["info-needed"] == ["OTH"]
    assert info["reason"][0]["coding"][0]["code"] == "technical"
    assert "could not be determined" in response["cards"][0]["summary"]


def test_a_payer_without_profile_is_indeterminate() -> None:
    info = coverage_informations(call(with_coverage([service_request("sr1", "72148")], payer="NOBODY")))
    assert info["ServiceRequest/sr1"]["covered"] == ["indeterminate"]


def test_max_cards_is_obeyed() -> None:
    orders = [service_request(f"sr{n}", "72148") for n in range(4)]
    assert len(call(with_coverage(orders, config={"max-cards": 2}))["cards"]) == 2


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda b: b.pop("hookInstance"), 400),
        (lambda b: b.update(hook="order-select"), 400),
        (lambda b: b["context"].pop("draftOrders"), 400),
        (lambda b: b["context"].update(draftOrders=[1]), 400),
        (lambda b: b.update(fhirAuthorization={"token": 1}), 400),
        (lambda b: b["context"]["draftOrders"]["entry"][0]["resource"].pop("id"), 422),
    ],
)
def test_unusable_requests_are_refused_with_the_right_status(mutate: Any, status: int) -> None:
    body = with_coverage([service_request("sr1", "72148")])
    mutate(body)
    with pytest.raises(CdsInputError) as err:
        runner().call("order-sign-crd", body)
    assert err.value.status == status


def test_one_source_of_truth_the_claim_and_the_order_agree_on_a_sample_encounter() -> None:
    """encounter-032: MRI lumbar spine ordered with a local code, Lakeshore, authorization on file."""
    bundle = json.loads((ROOT / "examples" / "bundles" / "encounter-032.json").read_text())
    resources = [e["resource"] for e in bundle["entry"]]
    without_auth = [r for r in resources if r["resourceType"] != "ClaimResponse"]
    for given, expected_claim, expected_order in ((resources, False, "satisfied"), (without_auth, True, "auth-needed")):
        report = check_resources(copy.deepcopy(given), config=CONFIG, today=TODAY, now=datetime.now(UTC))
        missing = any(f.rule == "prior-auth.prior-auth-missing" for ev in report.evaluations for f in ev.findings)
        assert missing is expected_claim
        by_type = lambda t: [r for r in given if r["resourceType"] == t]  # noqa: E731
        order = copy.deepcopy(by_type("ServiceRequest")[0])
        patient = order["subject"]["reference"].split("/")[1]
        body = order_sign(
            [order],
            patient=patient,
            prefetch={
                "coverage": searchset(by_type("Coverage") + by_type("Organization")),
                "authorizations": searchset(by_type("ClaimResponse")),
            },
        )
        info = coverage_informations(call(body))[f"ServiceRequest/{order['id']}"]
        assert info["pa-needed"] == [expected_order]


def test_coverage_resources_in_the_factory_are_valid() -> None:
    from app.fhir.r4 import validate_resource

    for resource in coverage():
        validate_resource(resource)
