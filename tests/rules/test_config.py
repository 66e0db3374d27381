"""Payer profiles and rule sets: schema errors with file and line, overrides per payer and site."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from app.config.payers import load_payers
from app.config.rulesets import load_rulesets
from app.domain.findings import Severity
from app.domain.payers import DEFAULT_PROFILE
from app.errors import ConfigError
from app.refdata import RefData
from tests.rules.factories import BILLING_NPI, CONFIG, VARIANTS, scenario

GOOD_PAYER = """\
payer_id: "77777"
name: Test Plan
claim_filing_indicator: CI
timely_filing_days: 120
eligibility_max_age_days: 30
prior_auth:
  - code: "72148"
  - range: ["70551", "70553"]
    pos: ["22"]
  - code: "20610"
    min_units: 2
subscriber_id_pattern: "^[A-Z]{3}[0-9]{6}$"
"""


def write(tmp_path: Path, folder: str, name: str, text: str) -> Path:
    (tmp_path / folder).mkdir(exist_ok=True)
    path = tmp_path / folder / name
    path.write_text(dedent(text))
    return path


def test_shipped_profiles_cover_the_vocabulary_payers() -> None:
    payers = load_payers(CONFIG)
    assert set(payers.profiles) >= {"01112", "MCDOH", "60054", "LKSH1", "SCHMO"}
    assert payers.profile_for("01112").subscriber_id_format == "mbi"
    assert payers.profile_for("SCHMO").referral_required
    assert payers.profile_for("nope") is DEFAULT_PROFILE and DEFAULT_PROFILE.is_default


def test_prior_auth_entries_match_code_range_pos_and_units(tmp_path: Path) -> None:
    write(tmp_path, "payers", "test.yaml", GOOD_PAYER)
    profile = load_payers(tmp_path).profile_for("77777")
    assert profile.prior_auth_rule("72148", "11", 1)
    assert profile.prior_auth_rule("70552", "22", 1)
    assert profile.prior_auth_rule("70552", "11", 1) is None  # POS-scoped entry
    assert profile.prior_auth_rule("70554", "22", 1) is None
    assert profile.prior_auth_rule("20610", "11", 1) is None and profile.prior_auth_rule("20610", "11", 2)
    assert profile.subscriber_id_regex and profile.subscriber_id_regex.match("ABC123456")


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (GOOD_PAYER + "fax_number: 1\n", 13, "fax_number"),
        (GOOD_PAYER.replace("timely_filing_days: 120", "timely_filing_days: soon"), 4, "timely_filing_days"),
        (GOOD_PAYER.replace('  - code: "72148"', '  - code: "72148"\n    range: ["1", "2"]'), 7, "prior_auth.0"),
        (GOOD_PAYER.replace('"^[A-Z]{3}[0-9]{6}$"', '"^[A-Z"'), 12, "subscriber_id_pattern"),
        (GOOD_PAYER.replace("claim_filing_indicator: CI", "claim_filing_indicator: XX"), 3,
         "claim_filing_indicator"),
    ],
)  # fmt: skip
def test_payer_file_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str) -> None:
    path = write(tmp_path, "payers", "bad.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_payers(tmp_path)
    assert err.value.path == str(path)
    assert err.value.line == line
    assert (err.value.field or "").startswith(field)


def test_duplicate_payer_id_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "payers", "a.yaml", GOOD_PAYER)
    write(tmp_path, "payers", "b.yaml", GOOD_PAYER)
    with pytest.raises(ConfigError, match="already defined"):
        load_payers(tmp_path)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("global:\n  coding.no-such-rule: {enabled: false}\n", 2, "unknown rule id"),
        ("payers:\n  '60054':\n    timely-filing.deadline-near:\n      params: {warn: 3}\n", 4,
         "unknown parameter"),
        ("global:\n  timely-filing.deadline-near:\n    params:\n      warning_days: soon\n", 4, "expected int"),
        ("global:\n  coding.dx-too-many: {severity: fatal}\n", 2, "error"),
        ("globals: {}\n", 1, "Extra inputs"),
        ("global:\n  coding.dx-too-many: {enabled: false, color: red}\n", 2, "Extra inputs"),
    ],
)  # fmt: skip
def test_ruleset_errors_name_file_and_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path, "rules", "r.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_rulesets(tmp_path)
    assert err.value.path == str(path)
    assert err.value.line == line
    assert problem in err.value.problem


def test_same_rule_in_two_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "rules", "a.yaml", "global:\n  coding.dx-too-many: {enabled: false}\n")
    write(tmp_path, "rules", "b.yaml", "global:\n  coding.dx-too-many: {enabled: true}\n")
    with pytest.raises(ConfigError, match="already set in"):
        load_rulesets(tmp_path)


def _with_rules(tmp_path: Path, text: str, variant_index: int, refdata: RefData):  # type: ignore[no-untyped-def]
    write(tmp_path, "rules", "r.yaml", text)
    sc = scenario(VARIANTS[variant_index], refdata)
    sc.rules = load_rulesets(tmp_path)
    return sc


def test_global_disable_then_payer_reenable(tmp_path: Path, refdata: RefData) -> None:
    text = """\
        global:
          missing-data.billing-zip-not-9-digits: {enabled: false}
        payers:
          "60054":
            missing-data.billing-zip-not-9-digits: {enabled: true, severity: warning}
        """
    for index, expected in ((0, None), (2, Severity.WARNING)):  # Medicare, then Buckeye
        sc = _with_rules(tmp_path, text, index, refdata)
        sc.res["billing"]["address"][0]["postalCode"] = "43215"
        found = [f.severity for f in sc.findings() if f.rule == "missing-data.billing-zip-not-9-digits"]
        assert found == ([expected] if expected else [])


def test_site_override_by_billing_npi_sets_params(tmp_path: Path, refdata: RefData) -> None:
    text = f"""\
        sites:
          "{BILLING_NPI}":
            documentation.visit-note-missing: {{params: {{required: true}}}}
        """
    sc = _with_rules(tmp_path, text, 2, refdata)
    sc.res.pop("note")
    assert "documentation.visit-note-missing" in sc.rule_ids()
    sc.res["billing"]["identifier"][0]["value"] = "1912301953"  # another site: rule not required
    assert "documentation.visit-note-missing" not in sc.rule_ids()


def test_payer_params_override_merges_over_global(tmp_path: Path, refdata: RefData) -> None:
    text = """\
        global:
          timely-filing.deadline-near: {params: {warning_days: 5}}
        payers:
          "01112":
            timely-filing.deadline-near: {params: {warning_days: 400}}
        """
    medicare = _with_rules(tmp_path, text, 0, refdata)
    assert "timely-filing.deadline-near" in medicare.rule_ids()  # 357 days left, window 400
    buckeye = _with_rules(tmp_path, text, 2, refdata)
    assert "timely-filing.deadline-near" not in buckeye.rule_ids()  # 82 days left, window 5


def test_default_profile_gives_an_info_finding(refdata: RefData) -> None:
    sc = scenario(VARIANTS[2], refdata)
    sc.res["payer"]["identifier"] = [{"system": "urn:claimbridge:payer-id", "value": "NEWPAYER"}]
    found = [f for f in sc.findings() if f.rule == "missing-data.payer-profile-missing"]
    assert len(found) == 1
    assert found[0].severity is Severity.INFO and "NEWPAYER" in found[0].message
    assert found[0].source == "Coverage/cov1"
