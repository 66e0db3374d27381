"""Finding.to_dict (written out field by field) gives exactly what the asdict-based form gives,
for every finding the example bundles raise, held ones included; fingerprints rest on it."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from app.config.loader import load_config
from app.domain.findings import Category, Finding, Severity
from app.evaluate import check_resources

ROOT = Path(__file__).resolve().parents[2]


def reference(finding: Finding) -> dict[str, Any]:
    """What to_dict gave through ``dataclasses.asdict`` (a field added to Finding shows up here)."""
    data = asdict(finding)
    data["category"] = finding.category.value
    data["severity"] = finding.severity.value
    if not finding.hold:
        del data["hold"]
    return data


def test_to_dict_matches_the_asdict_form_on_every_example_finding() -> None:
    config = load_config(ROOT / "config", refdata_dirs=[ROOT / "config" / "refdata"])
    findings: list[Finding] = []
    for path in sorted((ROOT / "examples" / "bundles").glob("*.json")):
        resources = [e["resource"] for e in json.loads(path.read_text())["entry"]]
        report = check_resources(resources, config=config, today=date(2026, 12, 7), now=datetime.now(UTC))
        findings += [f for ev in report.evaluations for f in ev.findings]
    assert len(findings) > 50
    for finding in findings + [replace(f, hold=True) for f in findings[:20]]:
        assert finding.to_dict() == reference(finding)
        assert list(finding.to_dict()) == list(reference(finding))  # same key order
        assert orjson.dumps(finding.to_dict()) == orjson.dumps(reference(finding))
        assert Finding.from_dict(finding.to_dict()) == finding


def test_hold_is_absent_unless_set() -> None:
    f = Finding("r", Category.CODING, Severity.WARNING, "m", "Claim.item[0]", None, "fix")
    assert "hold" not in f.to_dict()
    assert replace(f, hold=True).to_dict()["hold"] is True
