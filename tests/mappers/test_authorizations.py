"""Authorizations on file become ``insurance.preAuthRef`` on the focal insurance."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from app.domain.context import EncounterContext
from app.mappers import MappedClaim
from tests.mappers.factories import Visit, ref, service_request

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
