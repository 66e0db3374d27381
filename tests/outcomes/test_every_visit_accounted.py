"""No silent zero: every Encounter of every Bundle we ship (tests/fixtures, examples/) is billed or explained.

A finished visit that yields no claim must come with findings saying why (nothing billable, no
coverage, not finished, history); an encounter with a claim names it. New fixture bundles are walked
automatically.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.config.loader import ClaimConfig, load_config
from app.domain.context import resources_from_bundle
from app.domain.findings import Category, Severity
from app.domain.outcomes import Outcome
from app.evaluate import check_resources

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 17, 0, tzinfo=timezone(timedelta(hours=-5)))


def _bundles() -> list[Path]:
    found = []
    for folder in (ROOT / "tests" / "fixtures", ROOT / "examples"):
        for path in sorted(folder.rglob("*.json")):
            data = orjson.loads(path.read_bytes())
            if isinstance(data, dict) and data.get("resourceType") == "Bundle" and _encounters(data):
                found.append(path)
    return found


def _encounters(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r, _ in resources_from_bundle(bundle) if r.get("resourceType") == "Encounter"]


BUNDLES = _bundles()


@pytest.fixture(scope="module")
def config() -> ClaimConfig:
    return load_config(ROOT / "config", refdata_dirs=[ROOT / "config" / "refdata"])


def test_the_walk_covers_the_samples_and_the_fixtures() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in BUNDLES}
    assert "examples/all-encounters.json" in names
    assert len([n for n in names if n.startswith("examples/bundles/")]) == len(
        list((ROOT / "examples/bundles").glob("*"))
    )
    assert any(n.startswith("tests/fixtures/") for n in names)


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_encounter_is_billed_or_explained(path: Path, config: ClaimConfig) -> None:
    bundle = orjson.loads(path.read_bytes())
    report = check_resources(resources_from_bundle(bundle), config=config, today=NOW.date(), now=NOW)
    assert len(report.encounters) == len(_encounters(bundle)), "an Encounter of the Bundle has no outcome"
    claims = {ev.claim_id: ev for ev in report.evaluations}
    assert sorted(o.claim_id for o in report.encounters if o.claim_id) == sorted(claims)
    for outcome in report.encounters:
        if outcome.claim_id is None:
            assert outcome.outcome is not Outcome.CLAIM
            assert outcome.findings, f"{outcome.encounter}: no claim and no finding says why"
        else:
            assert outcome.held == claims[outcome.claim_id].held
        if outcome.status == "finished" and outcome.outcome is not Outcome.HISTORY:
            assert outcome.claim_id or any(f.category is Category.CHARGE_CAPTURE for f in outcome.findings)
        for f in outcome.findings:
            assert f.rule and f.message and f.fix and f.location and f.source
            assert isinstance(f.category, Category) and isinstance(f.severity, Severity)
    assert len(report.to_json()["encounters"]) == len(report.encounters)


def test_the_sample_data_bills_every_current_visit(config: ClaimConfig) -> None:
    bundle = orjson.loads((ROOT / "examples" / "all-encounters.json").read_bytes())
    report = check_resources(resources_from_bundle(bundle), config=config, today=date(2026, 11, 20), now=NOW)
    manifest = orjson.loads((ROOT / "examples" / "manifest.json").read_bytes())
    by_key = {o.encounter: o for o in report.encounters}
    for row in manifest:
        outcome = by_key[f"Encounter/{row['encounter']}"]
        assert outcome.claim_id, row
        expected = {"encounter-not-finished": Outcome.NOT_FINISHED, "coverage-missing": Outcome.NO_COVERAGE}
        wanted = next((expected[t] for t in row["expected"] if t in expected), Outcome.CLAIM)
        assert outcome.outcome is wanted, row
    assert {o.outcome for o in report.encounters} - {Outcome.CLAIM, Outcome.NOT_FINISHED, Outcome.NO_COVERAGE} == {
        Outcome.HISTORY
    }
