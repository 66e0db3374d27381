"""The FHIR R4 specification's own CoverageEligibilityResponse examples, read by the FHIR adapter.

Fixtures: ``tests/fixtures/conformance/fhir-r4/`` (sources in ``tests/fixtures/conformance/SOURCES.md``).
The payer answers at the HTTP edge (respx): bare, ``Parameters``-wrapped and ``Bundle`` answers, and
the request goes to the profile's ``submit_path``.
"""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from app.domain.eligibility import EligibilityEndpoint, EligibilityRequest, EligibilityResult
from app.eligibility import fhir
from app.eligibility.port import EligibilityPort
from app.eligibility.writeback import tasks
from app.fhir.r4 import validate_resource
from app.logging import configure_logging
from tests.eligibility.helpers import PAYER_URL

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "conformance" / "fhir-r4"
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
REQUEST = EligibilityRequest(
    coverage="Coverage/9876B1", patient="Patient/pat1", payer_id="60054", payer_name="Buckeye",
    service_date=date(2026, 12, 4), member_id="M1", family="Doe", given="Ann", birth_date="1980-01-02",
)  # fmt: skip


def example(name: str) -> dict[str, Any]:
    return dict(json.loads((SPEC / f"coverageeligibilityresponse-{name}.json").read_text()))


def _verify(answer: dict[str, Any], *, submit_path: str | None = None, status: int = 200) -> EligibilityResult:
    extra = {"submit_path": submit_path} if submit_path else {}
    ep = EligibilityEndpoint(adapter="fhir", fhir_base_url=PAYER_URL, max_attempts=1, **extra)
    url = f"{PAYER_URL}/{submit_path or 'CoverageEligibilityRequest/$submit'}"
    port = EligibilityPort(clock=lambda: NOW)

    async def run() -> EligibilityResult:
        try:
            return await port.verify(REQUEST, ep)
        finally:
            await port.aclose()

    with respx.mock() as payer:
        route = payer.post(url).mock(return_value=httpx.Response(status, json=answer))
        result = asyncio.run(run())
    assert route.call_count == 1
    return result


@pytest.mark.parametrize("name", ["example", "example-error"])
def test_the_spec_examples_are_valid_r4(name: str) -> None:
    validate_resource(example(name))


@pytest.mark.parametrize(
    "wrap",
    [
        lambda r: r,
        lambda r: {"resourceType": "Parameters", "parameter": [{"name": "return", "resource": r}]},
        lambda r: {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r}]},
    ],
    ids=["bare", "parameters", "bundle"],
)
def test_the_in_force_example_is_active_with_the_payers_words(wrap: Any) -> None:
    result = _verify(wrap(example("example")))
    assert (result.status, result.inforce, result.outcome) == ("active", True, "Policy is currently in-force.")
    assert (result.source, result.response_id, result.errors) == ("fhir", "E2500", ())
    assert tasks(result, check_id=1) == []


def test_the_submit_path_is_the_profiles() -> None:
    result = _verify(example("example"), submit_path="eligibility/$check")
    assert result.status == "active"


def test_the_error_example_is_an_error_the_front_desk_gets_a_task_for() -> None:
    result = _verify(example("example-error"))
    assert result.status == "error" and [e.code for e in result.errors] == ["a001"]
    assert "could not be processed" in (result.outcome or "")
    assert [t["identifier"][0]["value"] for t in tasks(result, check_id=7)] == ["check-7-a001"]


def test_outcome_error_without_an_error_element_is_never_a_silent_pass() -> None:
    answer = copy.deepcopy(example("example-error"))
    del answer["error"]
    validate_resource(answer)  # still valid R4: error is 0..*
    result = fhir.read_response(answer, REQUEST, now=NOW)
    assert result.status == "error"
    assert [(e.code, e.text) for e in result.errors] == [("outcome-error", answer["disposition"])]
    # the error rule (eligibility.payer-rejected) and the front desk's Task both read result.errors
    assert len(tasks(result, check_id=8)) == 1


def test_a_benefit_period_of_year_or_month_precision_is_read_not_a_crash() -> None:
    answer = copy.deepcopy(example("example"))
    answer["insurance"][0]["benefitPeriod"] = {"start": "2026", "end": "2026-12"}  # R4 dateTime allows both
    validate_resource(answer)
    result = fhir.read_response(answer, REQUEST, now=NOW)
    assert result.benefit_period == ("2026", "2026-12") and tasks(result, check_id=9) == []
    later = fhir.read_response(answer, replace(REQUEST, service_date=date(2027, 1, 4)), now=NOW)
    assert [t["identifier"][0]["value"] for t in tasks(later, check_id=9)] == ["check-9-benefit-period"]


OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [
        {"severity": "error", "code": "required", "details": {"text": "Subscriber id is required"}},
        {"severity": "error", "code": "invalid", "diagnostics": "servicedDate is in the past"},
    ],
}


@pytest.mark.parametrize("status", [400, 422, 200])
def test_an_operation_outcome_answer_is_unverified_with_the_payers_words(
    status: int, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="DEBUG", fmt="json")
    validate_resource(OUTCOME)
    result = _verify(OUTCOME, status=status)
    assert result.status == "unverified"
    assert "Subscriber id is required; servicedDate is in the past" in (result.reason or "")
    logs = "".join(capfd.readouterr())
    assert "eligibility.refused" in logs and "Subscriber id" not in logs  # stored with the result, never logged
