"""Every encounter ends as a claim or an explained outcome (``app.domain.outcomes`` via ``check_resources``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.config.loader import ClaimConfig, load_config
from app.domain.context import HISTORY_TAG
from app.domain.outcomes import OUTCOME_RULES, EncounterOutcome, Outcome
from app.evaluate import CheckReport, check_resources
from tests.mappers.factories import LOINC, Visit, service_request

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2024, 11, 21, 18, 0, tzinfo=timezone(timedelta(hours=-5)))
SELF_PAY = "http://terminology.hl7.org/CodeSystem/coverage-selfpay"


@pytest.fixture(scope="module")
def config() -> ClaimConfig:
    return load_config(ROOT / "config")


def run(visit: Visit, config: ClaimConfig) -> tuple[CheckReport, EncounterOutcome]:
    report = check_resources(visit.resources(), config=config, today=date(2024, 11, 21), now=NOW)
    outcome = next(o for o in report.encounters if o.encounter == "Encounter/enc-1")
    return report, outcome


def rules(outcome: EncounterOutcome) -> list[str]:
    return [f.rule for f in outcome.findings]


def test_a_clean_visit_ends_as_its_claim(config: ClaimConfig) -> None:
    report, outcome = run(Visit(), config)
    assert outcome.outcome is Outcome.CLAIM
    assert outcome.claim_id == report.evaluations[0].claim_id
    assert outcome.findings == ()


def test_a_finished_visit_with_nothing_billable_says_what_was_looked_at(config: ClaimConfig) -> None:
    visit = Visit(em_code=None)
    visit.extra.append(service_request("sr-1", visit.pat, visit.enc, LOINC, "4548-4", status="revoked"))
    report, outcome = run(visit, config)
    assert report.evaluations == []
    assert (outcome.outcome, outcome.claim_id, rules(outcome)) == (
        Outcome.NOTHING_BILLABLE, None, ["charge-capture.nothing-billable"]
    )  # fmt: skip
    finding = outcome.findings[0]
    assert "Encounter.type (no code)" in finding.message and "1 ServiceRequest (1 revoked)" in finding.message
    assert (finding.category, finding.severity, finding.source) == ("charge-capture", "warning", "Encounter/enc-1")
    assert finding.fix and finding.location == "Encounter"
    assert report.to_json()["encounters"][0]["findings"][0]["rule"] == "charge-capture.nothing-billable"


def test_a_visit_marked_not_billable_is_info(config: ClaimConfig) -> None:
    visit = Visit(em_code=None)
    visit.extra.append(
        {"resourceType": "ChargeItem", "id": "ci-1", "status": "not-billable", "code": {"text": "no-charge visit"},
         "subject": {"reference": "Patient/pat-1"}, "context": {"reference": "Encounter/enc-1"}}
    )  # fmt: skip
    _, outcome = run(visit, config)
    assert rules(outcome) == ["charge-capture.marked-not-billable"]
    assert outcome.findings[0].severity == "info"


def test_no_coverage_and_nothing_billable_explains_both(config: ClaimConfig) -> None:
    _, outcome = run(Visit(em_code=None, with_coverage=False), config)
    assert outcome.outcome is Outcome.NOTHING_BILLABLE
    assert rules(outcome) == ["charge-capture.nothing-billable", "eligibility.no-coverage-on-file"]
    assert outcome.findings[1].source == "Patient/pat-1" and "self-pay" in outcome.findings[1].message


def test_billable_visit_without_coverage_keeps_its_held_claim_and_says_no_coverage(config: ClaimConfig) -> None:
    report, outcome = run(Visit(with_coverage=False), config)
    assert outcome.outcome is Outcome.NO_COVERAGE
    assert outcome.claim_id == report.evaluations[0].claim_id and outcome.held
    assert rules(outcome) == ["eligibility.no-coverage-on-file"]
    assert outcome.findings[0].category == "eligibility" and "Coverage" in outcome.findings[0].fix


def test_a_self_pay_coverage_is_no_coverage_with_its_own_reason(config: ClaimConfig) -> None:
    visit = Visit(with_coverage=False)
    visit.extra.append(
        {"resourceType": "Coverage", "id": "cov-self", "status": "active",
         "beneficiary": {"reference": "Patient/pat-1"}, "payor": [{"reference": "Patient/pat-1"}],
         "type": {"coding": [{"system": SELF_PAY, "code": "pay"}]}}
    )  # fmt: skip
    _, outcome = run(visit, config)
    assert (outcome.outcome, rules(outcome)) == (Outcome.NO_COVERAGE, ["eligibility.self-pay"])
    assert outcome.findings[0].source == "Coverage/cov-self"


@pytest.mark.parametrize(
    ("status", "em_code", "rule", "severity"),
    [
        ("in-progress", None, "documentation.encounter-open", "warning"),
        ("in-progress", "99213", "documentation.encounter-open", "warning"),
        ("cancelled", None, "documentation.encounter-cancelled", "info"),
    ],
)
def test_an_unfinished_visit_says_so_with_or_without_its_held_claim(
    config: ClaimConfig, status: str, em_code: str | None, rule: str, severity: str
) -> None:
    report, outcome = run(Visit(status=status, em_code=em_code), config)
    assert (outcome.outcome, outcome.status, rules(outcome)) == (Outcome.NOT_FINISHED, status, [rule])
    assert outcome.findings[0].severity == severity and outcome.findings[0].location == "Encounter.status"
    assert (outcome.claim_id is not None) == (em_code is not None) == bool(report.evaluations)
    assert outcome.held == (em_code is not None)


def test_history_encounters_are_accounted_for_as_info(config: ClaimConfig) -> None:
    visit = Visit()
    prior = {**visit.enc, "id": "enc-0", "meta": {"tag": [{"system": HISTORY_TAG[0], "code": HISTORY_TAG[1]}]}}
    visit.extra.append(prior)
    report, _ = run(visit, config)
    assert [(o.encounter, o.outcome) for o in report.encounters] == [
        ("Encounter/enc-0", Outcome.HISTORY), ("Encounter/enc-1", Outcome.CLAIM)
    ]  # fmt: skip
    history = report.encounters[0]
    assert [(f.rule, f.severity) for f in history.findings] == [("charge-capture.history-encounter", "info")]


def test_docs_list_every_outcome_rule() -> None:
    text = (ROOT / "docs" / "rules.md").read_text()
    assert [r for r in OUTCOME_RULES if f"`{r}`" not in text] == []
    assert all(r.split(".")[0] == d.category.value for r, d in OUTCOME_RULES.items())
