"""The documented minimal payer profile (docs/rules.md) loads and bills: SBR09 is derived when the
profile has no ``claim_filing_indicator`` (Coverage.type first, then the profile's ``payer_type``)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from app.cli.main import app
from app.cli.x12 import run_build
from app.config.payers import load_payers
from app.errors import ConfigError
from app.x12.tokenizer import SegmentReader
from tests.x12.x12_pyx12 import assert_valid_837p

ROOT = Path(__file__).resolve().parents[2]
SOPT = "https://nahdo.org/sopt"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
BUCKEYE = "examples/bundles/encounter-009.json"  # a clean visit billed to payer 60054


def documented_minimal_profile() -> str:
    text = (ROOT / "docs" / "rules.md").read_text()
    found = re.search(r"this minimal profile loads and bills:\n\n```yaml\n(.*?)```", text, re.S)
    assert found, "docs/rules.md lost its minimal payer profile"
    return found.group(1)


def config_with(tmp_path: Path, profile: str) -> Path:
    """The shipped configuration with Buckeye's profile replaced by ``profile``."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "payers" / "buckeye-mutual.yaml").write_text(profile)
    return config


def bundle_with_coverage_type(tmp_path: Path, coverage_type: dict[str, Any] | None) -> Path:
    bundle = json.loads((ROOT / BUCKEYE).read_text())
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Coverage":
            entry["resource"].pop("type", None)
            if coverage_type is not None:
                entry["resource"]["type"] = coverage_type
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    return path


def sbr09s(text: str) -> list[str]:
    return [seg[9] for seg in SegmentReader(text) if seg.tag == "SBR"]


def build(tmp_path: Path, profile: str, coverage_type: dict[str, Any] | None) -> tuple[str | None, list[str]]:
    out = tmp_path / "claims.837"
    result = run_build(
        bundle_with_coverage_type(tmp_path, coverage_type), out=out, config_dir=config_with(tmp_path, profile),
        refdata_dir=tmp_path / "none", today=date(2026, 11, 20), state_file=tmp_path / "isa13",
    )  # fmt: skip
    reasons = [r for item in result.left_out for r in item.reasons]
    return (out.read_text() if out.exists() else None), reasons


def test_the_minimal_profile_loads_with_every_default(tmp_path: Path) -> None:
    profile = load_payers(config_with(tmp_path, documented_minimal_profile())).profile_for("60054")
    assert not profile.is_default and set(yaml.safe_load(documented_minimal_profile())) == {
        "payer_id", "name", "timely_filing_days", "eligibility_max_age_days", "prior_auth", "allowed"
    }  # fmt: skip
    assert (profile.claim_filing_indicator, profile.payer_type, profile.type_filing_indicator) == (None, None, None)
    assert (profile.timely_filing_days, profile.referral_required, profile.ndc_required) == (90, False, True)


@pytest.mark.parametrize(
    ("extra", "coverage_type", "sbr09"),
    [
        ("", {"coding": [{"system": SOPT, "code": "512"}]}, "12"),  # commercial PPO, as the sample data says
        ("", {"coding": [{"system": SOPT, "code": "6"}]}, "BL"),
        ("", {"coding": [{"system": ACT_CODE, "code": "HMO"}]}, "HM"),
        ("payer_type: commercial\n", None, "CI"),  # no Coverage.type: the payer's type decides
        ("payer_type: bcbs\n", {"text": "Blue plan"}, "BL"),
        ("payer_type: hmo\n", {"coding": [{"system": SOPT, "code": "512"}]}, "12"),  # Coverage.type first
        ("claim_filing_indicator: CI\n", {"coding": [{"system": SOPT, "code": "512"}]}, "CI"),  # configured wins
    ],
)
def test_a_claim_billed_under_the_minimal_profile_carries_the_derived_sbr09(
    tmp_path: Path, extra: str, coverage_type: dict[str, Any] | None, sbr09: str
) -> None:
    text, reasons = build(tmp_path, documented_minimal_profile() + extra, coverage_type)
    assert text is not None, reasons
    assert_valid_837p(text)
    assert sbr09s(text) == [sbr09]


def test_without_any_source_of_sbr09_the_claim_is_refused_with_the_reason(tmp_path: Path) -> None:
    text, reasons = build(tmp_path, documented_minimal_profile(), None)
    assert text is None
    assert any("neither claim_filing_indicator nor payer_type" in r for r in reasons), reasons


def test_an_unknown_payer_type_names_file_and_line(tmp_path: Path) -> None:
    config = config_with(tmp_path, documented_minimal_profile() + "payer_type: martian\n")
    with pytest.raises(ConfigError, match=r"buckeye-mutual\.yaml:\d+.*payer_type"):
        load_payers(config)


def test_config_check_prints_the_effective_profile_with_defaults(tmp_path: Path) -> None:
    config = config_with(tmp_path, documented_minimal_profile() + "payer_type: ppo\n")
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config), "--payer", "60054"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout.split("---\n", 1)[1])
    assert shown["payer_id"] == "60054" and shown["payer_type"] == "ppo"
    assert shown["claim_filing_indicator"] == "derived per claim: the Coverage.type code, else 12 (payer_type ppo)"
    assert {k: shown[k] for k in ("referral_required", "subscriber_id_format", "ndc_required", "aliases")} == {
        "referral_required": False, "subscriber_id_format": "pattern", "ndc_required": True, "aliases": []
    }  # fmt: skip
    assert shown["prior_auth"] == [{"code": "72148"}] and shown["allowed"] == {"99213": 88.0}
    every = CliRunner().invoke(app, ["config", "check", "--config", str(config)])
    assert every.stdout.count("---\n") == 5 and "claim_filing_indicator: HM" in every.stdout
