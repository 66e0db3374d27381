"""Every CRD conformance fixture is a test: hook requests get conformant answers; the examples pass the same checks.

Fixtures: tests/fixtures/conformance/davinci-crd/ and inferno-davinci-crd-test-kit/ (sources and
licences in tests/fixtures/conformance/SOURCES.md). The checker (tests/cds/hooks.py) is first run on
the official example responses, cards and system actions, so it accepts what CRD shows and the
answers are held to the same structure.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.cds.hooks import discovery_document
from app.cds.service import CdsRunner
from app.config.loader import load_config
from tests.cds.hooks import CONFORMANCE, check_action, check_card, check_response, coverage_informations, fixture

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config")
REQUESTS = sorted(
    [f"davinci-crd/{p.name}" for p in (CONFORMANCE / "davinci-crd").glob("CRDServiceRequest*.json")]
    + [
        f"inferno-davinci-crd-test-kit/{p.name}"
        for p in (CONFORMANCE / "inferno-davinci-crd-test-kit").glob("*_hook_request.json")
    ]
)
RESPONSES = sorted(f"davinci-crd/{p.name}" for p in (CONFORMANCE / "davinci-crd").glob("CRDServiceResponse*.json"))


def check_discovery(document: dict[str, Any]) -> None:
    assert document["services"]
    for service in document["services"]:
        assert service["hook"] and service["description"] and service["id"]
        assert all(isinstance(v, str) for v in service.get("prefetch", {}).values())
        ext = service["extension"]
        assert ext["davinci-crd.version"], "dev-1: at least one CRD version per hook"
        codes = [o["code"] for o in ext.get("davinci-crd.configuration-options", [])]
        assert len(codes) == len(set(codes))
        for option in ext.get("davinci-crd.configuration-options", []):
            assert {"code", "type", "name", "description"} <= option.keys()


def test_all_fixtures_are_covered() -> None:
    assert len(REQUESTS) == 8 and len(RESPONSES) == 3


@pytest.mark.parametrize("name", RESPONSES)
def test_the_example_responses_pass_the_checker(name: str) -> None:
    check_response(fixture(name), ours=False)


def test_the_inferno_cards_and_system_actions_pass_the_checker() -> None:
    for card in fixture("inferno-davinci-crd-test-kit/valid_cards.json"):
        check_card(card, ours=False)
    for name in ("coverage_info_system_action_covered.json", "coverage_info_system_action_conditional.json"):
        check_action(fixture(f"inferno-davinci-crd-test-kit/{name}"), ours=False)


def test_discovery_has_the_structure_of_the_crd_example() -> None:
    example, ours = fixture("davinci-crd/CRDServices.json"), discovery_document()
    check_discovery(example)
    check_discovery(ours)
    hooks = {s["hook"] for s in ours["services"]}
    assert {"order-select", "order-sign", "order-dispatch", "appointment-book", "encounter-start"} <= hooks
    assert {s["id"] for s in ours["services"]} <= {s["id"] for s in example["services"]}  # same ids as CRD's


@pytest.mark.parametrize("name", REQUESTS)
def test_each_hook_request_gets_a_conformant_response(name: str) -> None:
    body = fixture(name)
    response = CdsRunner.for_config(CONFIG, today=date.today).call(None, body)
    check_response(response)
    example_keys = {k for r in RESPONSES for k in fixture(r)}
    assert set(response) <= example_keys
    drafts = [e["resource"] for e in (body["context"].get("draftOrders") or {}).get("entry", [])]
    in_scope = [
        f"{r['resourceType']}/{r['id']}"
        for r in drafts
        if r["resourceType"] in ("ServiceRequest", "MedicationRequest", "DeviceRequest")
    ]
    configured = (body.get("extension") or {}).get("davinci-crd.configuration", {})
    if configured.get("coverage-info", True):
        assert sorted(coverage_informations(response)) == sorted(in_scope)  # one per in-scope draft order
    else:
        assert "systemActions" not in response


def test_the_crd_order_sign_example_names_its_orders_and_says_why_it_is_indeterminate() -> None:
    response = CdsRunner.for_config(CONFIG, today=date.today).call(None, fixture("davinci-crd/CRDServiceRequest.json"))
    info = coverage_informations(response)
    assert set(info) == {"ServiceRequest/1357", "ServiceRequest/2468"}
    assert info["ServiceRequest/1357"]["coverage"] == [{"reference": "Coverage/COV1"}]
    assert info["ServiceRequest/1357"]["covered"] == ["indeterminate"]  # Acme Health Plan: no payer profile
    assert "no payer profile" in info["ServiceRequest/1357"]["reason"][0]["text"]
