"""Which findings hold a claim (issue 11 item 9): per rule and payer, with safe defaults, until acknowledged."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.cli.check import read_bundle
from app.config.loader import ClaimConfig, load_config
from app.config.rulesets import load_rulesets
from app.domain.findings import Category, Finding, Severity, blocks_submission
from app.errors import ConfigError
from app.evaluate import check_resources
from app.rules.holds import HoldPolicy

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ROOT / "examples" / "bundles"
TODAY = date(2026, 11, 20)


def warning(rule: str) -> Finding:
    return Finding(rule, Category.CODING, Severity.WARNING, "m", "Claim.item[0]", None, "fix")


def test_the_defaults_hold_the_three_risky_warnings_only() -> None:
    policy = HoldPolicy()
    for rule in ("coding.em-overcoded", "coding.em-patient-category", "documentation.visit-note-not-final"):
        assert policy.holds(rule, "60054")
    assert not policy.holds("coding.hcpcs-unknown", "60054")
    held = policy.apply([warning("coding.em-overcoded"), warning("coding.hcpcs-unknown")], "60054")
    assert [f.hold for f in held] == [True, False] and blocks_submission(held)
    assert not blocks_submission([warning("coding.hcpcs-unknown")])


def test_a_payer_setting_wins_over_the_global_one_and_the_default() -> None:
    policy = HoldPolicy(
        global_layer={"coding.hcpcs-unknown": True},
        payers={"60054": {"coding.em-overcoded": False, "coding.hcpcs-unknown": False}},
    )
    assert not policy.holds("coding.em-overcoded", "60054") and policy.holds("coding.em-overcoded", "01112")
    assert policy.holds("coding.hcpcs-unknown", "01112") and not policy.holds("coding.hcpcs-unknown", "60054")


def test_the_hold_is_recorded_on_the_finding_and_survives_a_round_trip() -> None:
    (held,) = HoldPolicy().apply([warning("coding.em-overcoded")], None)
    assert held.to_dict()["hold"] is True and Finding.from_dict(held.to_dict()) == held
    assert "hold" not in warning("coding.hcpcs-unknown").to_dict()  # unchanged fingerprints for the rest


def _config_with(tmp_path: Path, holds: str) -> ClaimConfig:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("refdata"))
    (config / "rules" / "holds.yaml").write_text(holds)
    return load_config(config, refdata_dirs=[ROOT / "config" / "refdata"])


def test_rule_set_files_set_holds_and_refuse_unknown_ids(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    (folder / "rules").mkdir(parents=True)
    (folder / "rules" / "h.yaml").write_text(
        "holds:\n  global:\n    coding.hcpcs-unknown: true\n  payers:\n    '60054':\n      coding.em-overcoded: false\n"
    )
    policy = load_rulesets(folder).holds
    assert policy.holds("coding.hcpcs-unknown", None) and not policy.holds("coding.em-overcoded", "60054")
    (folder / "rules" / "h.yaml").write_text("holds:\n  global:\n    coding.no-such-rule: true\n")
    with pytest.raises(ConfigError, match="unknown rule id"):
        load_rulesets(folder)


@pytest.mark.parametrize(
    ("bundle", "rule"),
    [
        ("encounter-002.json", "coding.em-overcoded"),  # 99215 billed on 12 minutes
        ("encounter-028.json", "coding.em-patient-category"),  # new-patient code, established patient
        ("encounter-023.json", "documentation.visit-note-not-final"),  # the note is not signed
    ],
)
def test_the_demo_claims_with_these_warnings_are_held(bundle: str, rule: str, tmp_path: Path) -> None:
    config = load_config(ROOT / "config", refdata_dirs=[])
    report = check_resources(read_bundle(BUNDLES / bundle), config=config, today=TODAY, now=datetime.now(UTC))
    (ev,) = [e for e in report.evaluations if any(f.rule == rule for f in e.findings)]
    (finding,) = [f for f in ev.findings if f.rule == rule]
    assert finding.severity is Severity.WARNING and finding.hold and ev.held
    payer = ev.payer_id
    relaxed = _config_with(tmp_path, f"holds:\n  payers:\n    '{payer}':\n      {rule}: false\n")
    again = check_resources(read_bundle(BUNDLES / bundle), config=relaxed, today=TODAY, now=datetime.now(UTC))
    (ev2,) = [e for e in again.evaluations if e.claim_id == ev.claim_id]
    assert not any(f.hold for f in ev2.findings if f.rule == rule)
