"""Da Vinci PAS review actions read item by item; only approvals (whole, partial, modified) grant."""

from __future__ import annotations

import pytest

from app.domain.preauth import decisions, grants
from tests.pas_fixtures import claim_response, review_item


def test_pas_approval_fixture_grants_its_number_for_its_item_period() -> None:
    response = claim_response("valid_pa_response_bundle.json")
    assert "preAuthRef" not in response  # the number is only in the review action
    [grant] = grants(response)
    assert (grant.action, grant.number, grant.start, grant.end) == ("approved", "AUTH0001", "2005-05-02", "2005-06-02")
    assert grant.codes == frozenset()  # X12 service type "3" (consultation) is a category, not a billed code
    assert grant.covers("2005-05-20") and not grant.covers("2005-06-03")


def test_pas_denial_never_grants_even_with_a_preauthref() -> None:
    response = claim_response("valid_pa_response_bundle_denial.json")
    response["preAuthRef"] = "AUTH0001"
    assert [d.action for d in decisions(response)] == ["denied"]
    assert grants(response) == []


def test_pended_notification_response_grants_nothing() -> None:
    response = claim_response("PAS_notification_example_full_resource.json")
    response["preAuthRef"] = "PENDING-1"
    assert [(d.action, d.authorizes) for d in decisions(response)] == [("undecided", False)]
    assert grants(response) == []


def test_review_action_on_the_item_itself_is_read_too() -> None:
    """PAS 2.1+ puts reviewAction on ClaimResponse.item, PAS 2.0 on item.adjudication."""
    response = claim_response("valid_pa_response_bundle.json")
    item = response["item"][0]
    item["extension"].append(item["adjudication"][0].pop("extension")[0])
    assert [g.number for g in grants(response)] == ["AUTH0001"]


def test_partial_approval_grants_what_was_approved_and_denied_items_nothing() -> None:
    response = claim_response("valid_pa_response_bundle.json")
    response["item"] = [
        review_item(1, "A2", number="PA-2", code="72148", quantity=1, period=("2026-02-01", "2026-04-30")),
        review_item(2, "A3", number="PA-3", code="70553"),
        review_item(3, "A4", number="PA-4", code="70450"),
    ]
    [grant] = grants(response)
    assert (grant.action, grant.number, grant.codes, grant.units) == ("partial", "PA-2", {"72148"}, {"72148": 1.0})


def test_codes_come_from_the_request_claim_item_with_the_same_sequence() -> None:
    response = claim_response("valid_pa_response_bundle.json")
    response["item"][0]["extension"] = [
        e for e in response["item"][0]["extension"] if "AuthorizedDetail" not in e["url"]
    ]
    ct = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "70450"}]}
    request = {"resourceType": "Claim", "item": [{"sequence": 1, "productOrService": ct}]}
    assert [g.codes for g in grants(response, request=request)] == [{"70450"}]


@pytest.mark.parametrize("change", [{"status": "cancelled"}, {"status": "entered-in-error"}, {"outcome": "error"}])
def test_unusable_responses_grant_nothing(change: dict[str, str]) -> None:
    response = claim_response("valid_pa_response_bundle.json")
    response.update(change)
    assert grants(response) == []


def test_plain_r4_response_without_review_actions_keeps_preauthref() -> None:
    response = {"resourceType": "ClaimResponse", "status": "active", "use": "preauthorization", "outcome": "complete",
                "preAuthRef": "PA-1", "preAuthPeriod": {"start": "2024-11-01"},
                "addItem": [{"productOrService": {"coding": [{"code": "72148"}]},
                             "quantity": {"value": 2}}]}  # fmt: skip
    [grant] = grants(response)
    assert (grant.number, grant.start, grant.end, grant.units) == ("PA-1", "2024-11-01", None, {"72148": 2.0})
    assert grant.codes == {"72148"}
