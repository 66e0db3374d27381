"""Pure view helpers: the SVG bar chart and the claim as a biller reads it."""

from __future__ import annotations

from app.web.charts import bar_chart
from app.web.claim_view import claim_lines, group_findings


def test_bar_chart_escapes_labels_and_prints_values() -> None:
    svg = str(bar_chart("Rate <by> month", [("Nov <b>", 0.25), ("Dec", None)], percent=True))
    assert svg.startswith("<svg") and "<title" in svg and 'role="img"' in svg
    assert "Nov &lt;b&gt;" in svg and "<b>" not in svg and "Rate &lt;by&gt; month" in svg
    assert "25.0%" in svg and "n/a" in svg
    assert svg.count("<rect") == 1  # no bar for an unknown value
    assert "no data yet" in str(bar_chart("Empty", []))


def test_findings_grouped_by_who_must_act_errors_first() -> None:
    findings = [
        {"id": 1, "category": "coding", "severity": "warning"},
        {"id": 2, "category": "eligibility", "severity": "error"},
        {"id": 3, "category": "coding", "severity": "error"},
        {"id": 4, "category": "documentation", "severity": "info"},
        {"id": 5, "category": "something-new", "severity": "error"},
    ]
    groups = [(who, [f["id"] for f in items]) for who, items in group_findings(findings)]
    assert groups == [("Clinician", [4]), ("Coder / biller", [3, 1]), ("Front desk", [2]), ("Billing office", [5])]


def test_claim_lines_resolve_diagnosis_pointers() -> None:
    claim = {
        "diagnosis": [
            {"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"code": "M17.12"}]}},
            {"sequence": 2, "diagnosisCodeableConcept": {"coding": [{"code": "E11.9"}]}},
        ],
        "item": [
            {
                "sequence": 1,
                "productOrService": {"coding": [{"code": "20610"}]},
                "modifier": [{"coding": [{"code": "LT"}]}],
                "quantity": {"value": 1},
                "net": {"value": 185.0},
                "diagnosisSequence": [2, 1],
            }
        ],
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c1"}}],
        "insurer": {"display": "Payer One"},
        "total": {"value": 185.0},
    }
    view = claim_lines(claim)
    assert view["lines"][0]["pointer_codes"] == ["E11.9", "M17.12"] and view["lines"][0]["modifiers"] == ["LT"]
    assert view["insurance"] == [{"sequence": 1, "focal": True, "coverage": "Coverage/c1"}]
    assert view["insurer"] == "Payer One" and view["total"] == 185.0
