"""Authorizations on file become ``insurance.preAuthRef`` on the focal insurance."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from app.domain.context import EncounterContext
from app.mappers import MappedClaim
from tests.mappers.factories import Visit, ref, service_request
from tests.pas_fixtures import claim_response, review_item

CPT = "http://www.ama-assn.org/go/cpt"


def authorization(visit: Visit, number: str, *, codes: tuple[str, ...] = ("72148",), **changes: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "resourceType": "ClaimResponse", "id": f"auth-{number}", "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "preauthorization", "patient": ref(visit.pat), "created": "2024-11-01T10:00:00-05:00",
        "insurer": ref(visit.payer), "outcome": "complete", "preAuthRef": number,
        "preAuthPeriod": {"start": "2024-11-01", "end": "2024-12-31"},
        "addItem": [{"productOrService": {"coding": [{"system": CPT, "code": c}]}} for c in codes],
    }  # fmt: skip
    response.update(changes)
    return response


def mri_visit(*auths: Callable[[Visit], dict[str, Any]]) -> Visit:
    visit = Visit()
    visit.extra.append(service_request("sr-mri", visit.pat, visit.enc, CPT, "72148"))
    visit.extra.extend(make(visit) for make in auths)
    return visit


def focal(result: MappedClaim) -> dict[str, Any]:
    return next(i for i in result.claim["insurance"] if i["focal"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matching_authorization_is_put_on_the_claim(run: Callable[[EncounterContext], MappedClaim], seed: int) -> None:
    visit = mri_visit(lambda v: authorization(v, "PA-1"))
    assert focal(run(visit.context(rng=random.Random(seed))))["preAuthRef"] == ["PA-1"]


@pytest.mark.parametrize(
    "change",
    [
        {"preAuthPeriod": {"start": "2024-11-21", "end": "2024-12-31"}},  # starts after the visit
        {"preAuthPeriod": {"start": "2024-10-01", "end": "2024-11-19"}},  # ended before it
        {"status": "cancelled"},
        {"outcome": "error"},
        {"use": "claim"},
        {"insurer": {"reference": "Organization/some-other-payer"}},
        {"patient": {"reference": "Patient/someone-else"}},
    ],
)
def test_authorizations_that_do_not_apply_are_left_off(
    run: Callable[[EncounterContext], MappedClaim], change: dict[str, Any]
) -> None:
    visit = mri_visit(lambda v: authorization(v, "PA-1", **change))
    assert "preAuthRef" not in focal(run(visit.context()))


def test_authorization_for_other_codes_does_not_apply_one_without_codes_does(
    run: Callable[[EncounterContext], MappedClaim],
) -> None:
    visit = mri_visit(
        lambda v: authorization(v, "PA-CT", codes=("70450",)), lambda v: authorization(v, "PA-ANY", codes=())
    )
    assert focal(run(visit.context()))["preAuthRef"] == ["PA-ANY"]


def test_no_authorization_no_preauthref(run: Callable[[EncounterContext], MappedClaim]) -> None:
    assert "preAuthRef" not in focal(run(mri_visit().context()))


def pas_response(visit: Visit, fixture: str, **changes: Any) -> dict[str, Any]:
    """A Da Vinci PAS response fixture about this visit's patient and payer, its item window moved to the visit."""
    response = claim_response(fixture)
    response.update(patient=ref(visit.pat), insurer=ref(visit.payer), **changes)
    for ext in response["item"][0]["extension"]:
        if ext["url"].endswith("itemPreAuthPeriod"):
            ext["valuePeriod"] = {"start": "2024-11-01", "end": "2024-12-31"}
    return response


def test_pas_approval_number_from_the_review_action_goes_on_the_claim(
    run: Callable[[EncounterContext], MappedClaim],
) -> None:
    visit = mri_visit(lambda v: pas_response(v, "valid_pa_response_bundle.json"))
    assert focal(run(visit.context()))["preAuthRef"] == ["AUTH0001"]


@pytest.mark.parametrize(
    "fixture", ["valid_pa_response_bundle_denial.json", "PAS_notification_example_full_resource.json"]
)
def test_pas_denied_or_pended_response_with_a_preauthref_authorizes_nothing(
    run: Callable[[EncounterContext], MappedClaim], fixture: str
) -> None:
    visit = mri_visit(lambda v: pas_response(v, fixture, preAuthRef="AUTH0001", status="active", outcome="complete"))
    assert "preAuthRef" not in focal(run(visit.context()))


def test_pas_item_window_not_the_response_window_decides(run: Callable[[EncounterContext], MappedClaim]) -> None:
    def expired(v: Visit) -> dict[str, Any]:
        response = pas_response(v, "valid_pa_response_bundle.json", preAuthPeriod={"start": "2024-01-01"})
        response["item"] = [review_item(1, "A1", number="PA-OLD", period=("2024-01-01", "2024-06-30"))]
        return response

    assert "preAuthRef" not in focal(run(mri_visit(expired).context()))


def test_pas_partial_approval_counts_for_the_approved_item_only(run: Callable[[EncounterContext], MappedClaim]) -> None:
    def mixed(v: Visit) -> dict[str, Any]:
        response = pas_response(v, "valid_pa_response_bundle.json")
        response["item"] = [
            review_item(1, "A3", number="PA-DENIED", code="72148"),
            review_item(2, "A2", number="PA-PART", code="72148", quantity=1),
            review_item(3, "A1", number="PA-CT", code="70450"),
        ]
        return response

    assert focal(run(mri_visit(mixed).context()))["preAuthRef"] == ["PA-PART"]


def test_two_authorizations_are_each_named_on_the_line_they_cover(run) -> None:
    visit = mri_visit(lambda v: authorization(v, "PA-1"), lambda v: authorization(v, "PA-2", codes=("70553",)))
    visit.extra.append(service_request("sr-brain", visit.pat, visit.enc, CPT, "70553"))
    result = run(visit.context())
    assert focal(result)["preAuthRef"] == ["PA-1", "PA-2"]
    by_code = {i["productOrService"]["coding"][0]["code"]: i for i in result.claim["item"]}
    cited = {c: [e["valueString"] for e in i.get("extension") or () if e["url"] == "urn:claimbridge:line-prior-auth"]
             for c, i in by_code.items()}  # fmt: skip
    assert cited["72148"] == ["PA-1"] and cited["70553"] == ["PA-2"] and cited["99213"] == []


def test_one_authorization_is_not_repeated_on_the_lines(run) -> None:
    result = run(mri_visit(lambda v: authorization(v, "PA-1")).context())
    assert all("extension" not in i for i in result.claim["item"])
