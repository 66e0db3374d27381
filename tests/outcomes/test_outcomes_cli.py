"""``claimbridge check`` prints each encounter's outcome: a finished visit with nothing billable is
explained, not answered with ``0 claim(s)`` alone, and still exits 0."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from typer.testing import CliRunner

from app.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def nothing_billable_bundle(tmp_path: Path) -> Path:
    bundle = json.loads((ROOT / "examples" / "bundles" / "encounter-001.json").read_text())
    bundle = copy.deepcopy(bundle)
    bundle["entry"] = [
        e for e in bundle["entry"] if e["resource"]["resourceType"] not in ("ServiceRequest", "MedicationRequest")
    ]
    bundle["entry"][0]["resource"].pop("type")
    path = tmp_path / "nothing.json"
    path.write_text(json.dumps(bundle))
    return path


def test_check_explains_a_finished_visit_with_nothing_billable_and_exits_0(tmp_path: Path) -> None:
    path = nothing_billable_bundle(tmp_path)
    result = runner.invoke(app, ["check", str(path), "--as-of", "2026-11-20"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Encounter/enc-001 → no claim: nothing-billable" in result.stdout
    assert "finished visit with nothing billable; looked at Encounter.type (no code), 0 ServiceRequest" in result.stdout
    assert "charge-capture.nothing-billable" in result.stdout
    assert "0 claim(s), 0 held, 0 finding(s); 2 encounter(s), 2 without a claim" in result.stdout


def test_check_json_lists_the_encounter_with_its_outcome_beside_the_unchanged_keys(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(nothing_billable_bundle(tmp_path)), "--json", "--as-of", "2026-11-20"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["claims"], report["findings"], report["alerts"]) == ([], [], [])
    current = next(e for e in report["encounters"] if e["encounter"] == "Encounter/enc-001")
    assert {k: current[k] for k in ("outcome", "claim", "status", "patient")} == {
        "outcome": "nothing-billable", "claim": None, "status": "finished", "patient": "Patient/pat-001"
    }  # fmt: skip
    assert [(f["rule"], f["category"], f["severity"]) for f in current["findings"]] == [
        ("charge-capture.nothing-billable", "charge-capture", "warning")
    ]
    assert {"rule", "category", "severity", "message", "location", "source", "fix"} == current["findings"][0].keys()
