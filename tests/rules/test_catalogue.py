"""Every rule of the catalogue: changes that must make it fire, near misses that must not.

Each case starts from the clean scenario (which passes every rule, see test_baseline.py) and is run
over several payer / encounter-class / POS variants the rule should not care about.
"""

from __future__ import annotations

import pytest

from app.refdata import RefData
from app.rules import all_rules
from tests.rules import cases_claims, cases_coding, cases_data, cases_payer, cases_verification
from tests.rules.cases import Case
from tests.rules.factories import scenario

ALL_CASES: list[Case] = [
    *cases_data.CASES,
    *cases_payer.CASES,
    *cases_coding.CASES,
    *cases_claims.CASES,
    *cases_verification.CASES,
]
SPECS = {spec.id: spec for spec in all_rules()}


def _params(kind: str) -> list[object]:
    out = []
    for n, case in enumerate(ALL_CASES):
        for k, change in enumerate(case.fail if kind == "fail" else case.ok):
            for variant in case.variants:
                out.append(pytest.param(case.rule, change, variant, id=f"{case.rule}-{n}.{k}-{variant}"))
    return out


@pytest.mark.parametrize(("rule", "change", "variant"), _params("fail"))
def test_rule_fires(rule, change, variant, refdata: RefData) -> None:
    sc = scenario(variant, refdata)
    change(sc)
    mine = [f for f in sc.findings() if f.rule == rule]
    assert mine, f"{rule} did not fire"
    spec = SPECS[rule]
    for finding in mine:
        assert finding.category == spec.category
        assert finding.severity == spec.severity or rule in OVERRIDDEN
        assert finding.message and finding.location and finding.fix


@pytest.mark.parametrize(("rule", "change", "variant"), _params("ok"))
def test_rule_stays_quiet(rule, change, variant, refdata: RefData) -> None:
    sc = scenario(variant, refdata)
    change(sc)
    assert rule not in sc.rule_ids()


OVERRIDDEN: set[str] = set()  # rules whose severity the shipped rule set changes


def test_every_rule_has_failing_and_passing_cases() -> None:
    failing = {c.rule for c in ALL_CASES if c.fail}
    passing = {c.rule for c in ALL_CASES if c.ok}
    assert set(SPECS) - failing == set()
    assert set(SPECS) - passing == set()
