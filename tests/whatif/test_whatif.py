"""The pure comparison (app.whatif) on hand-built snapshots."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.whatif import ClaimSnapshot, compare_claims, diff_claims, replay_status, snapshot_stored

CPT = "http://www.ama-assn.org/go/cpt"


def item(seq: int, code: str, net: float, *, qty: int = 1, modifiers: tuple[str, ...] = ()) -> dict[str, Any]:
    line: dict[str, Any] = {
        "sequence": seq,
        "productOrService": {"coding": [{"system": CPT, "code": code}]},
        "quantity": {"value": qty},
        "net": {"value": net, "currency": "USD"},
    }
    if modifiers:
        line["modifier"] = [{"coding": [{"system": CPT, "code": m}]} for m in modifiers]
    return line


def snap(
    *,
    claim_id: str = "cb-1",
    encounter: str = "Encounter/e1",
    payer: str | None = "60054",
    status: str = "ready",
    items: list[dict[str, Any]] | None = None,
    findings: dict[tuple[str, str], str] | None = None,
    created: str = "2026-11-20T10:00:00+00:00",
    **extra: Any,
) -> ClaimSnapshot:
    lines = items if items is not None else [item(1, "99213", 145.0)]
    claim = {
        "resourceType": "Claim",
        "id": claim_id,
        "created": created,
        "meta": {"tag": [{"code": created}]},
        "item": lines,
        "total": {"value": sum(i["net"]["value"] for i in lines), "currency": "USD"},
        **extra,
    }
    return ClaimSnapshot(claim_id, encounter, payer, status, claim, findings or {})


def test_identical_content_is_no_change_whatever_created_and_meta_say() -> None:
    assert compare_claims(snap(), snap(created="2027-01-01T00:00:00+00:00")) is None


def test_a_price_change_is_a_changed_line_and_total() -> None:
    diff = compare_claims(snap(), snap(items=[item(1, "99213", 150.0)]))
    assert diff is not None and diff.kind == "changed"
    assert diff.before is not None and diff.after is not None
    assert (diff.before.total, diff.after.total) == (145.0, 150.0)
    [(old, new)] = diff.lines_changed
    assert (old.code, old.net, new.net) == ("99213", 145.0, 150.0)
    assert diff.lines_added == diff.lines_removed == [] and diff.other_elements == []


def test_lines_are_known_by_code_modifiers_and_occurrence_not_by_sequence() -> None:
    before = snap(items=[item(1, "99213", 145.0), item(2, "36415", 15.0), item(3, "20610", 120.0, modifiers=("RT",))])
    after = snap(
        items=[
            item(1, "99213", 145.0),
            item(2, "20610", 120.0, modifiers=("RT",)),
            item(3, "20610", 120.0, modifiers=("LT",)),
            item(4, "20610", 120.0, modifiers=("LT",)),
        ]
    )
    diff = compare_claims(before, after)
    assert diff is not None
    assert [(v.code, v.modifiers) for v in diff.lines_removed] == [("36415", ())]
    assert [(v.code, v.modifiers) for v in diff.lines_added] == [("20610", ("LT",)), ("20610", ("LT",))]
    assert diff.lines_changed == []


def test_findings_appear_disappear_and_change_severity_by_rule_and_location() -> None:
    before = snap(findings={("a.rule", "Claim.item[0]"): "warning", ("b.rule", "Claim"): "error"}, status="held")
    after = snap(findings={("a.rule", "Claim.item[0]"): "error", ("c.rule", "Claim.item[1]"): "info"}, status="held")
    diff = compare_claims(before, after)
    assert diff is not None
    assert diff.findings_appeared == [("c.rule", "Claim.item[1]")]
    assert diff.findings_disappeared == [("b.rule", "Claim")]
    assert diff.severity_changed == [(("a.rule", "Claim.item[0]"), "warning", "error")]


def test_other_claim_elements_are_named() -> None:
    dx = [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"code": "E11.9"}]}}]
    diff = compare_claims(snap(diagnosis=dx), snap(diagnosis=[{**dx[0], "sequence": 2}]))
    assert diff is not None and diff.other_elements == ["diagnosis"]


@pytest.mark.parametrize(
    ("held", "previous", "with_payer", "expected"),
    [
        (True, None, False, "held"),
        (False, None, False, "ready"),
        (False, "held", False, "ready"),
        (False, "held", True, "needs-replacement"),  # held after it was sent: the payer has it
        (True, "ready", False, "held"),
        (False, "submitted", False, "needs-replacement"),
        (False, "needs-replacement", False, "needs-replacement"),
        (True, "paid", False, "held"),
    ],
)
def test_replay_status_follows_the_worker(held: bool, previous: str | None, with_payer: bool, expected: str) -> None:
    assert replay_status(held=held, previous=previous, with_payer=with_payer) == expected


def test_payer_change_pairs_claims_of_the_same_encounter_and_extra_ones_are_added_or_removed() -> None:
    stored = [snap(claim_id="cb-old", payer="60054"), snap(claim_id="cb-gone", encounter="Encounter/e2")]
    replayed = [snap(claim_id="cb-new", payer="01112"), snap(claim_id="cb-fresh", encounter="Encounter/e3")]
    report = diff_claims(stored, replayed, encounters=3)
    kinds = {(d.kind, d.claim_id) for d in report.diffs}
    assert kinds == {("changed", "cb-new"), ("removed", "cb-gone"), ("added", "cb-fresh")}
    changed = next(d for d in report.diffs if d.kind == "changed")
    assert changed.before is not None and changed.after is not None
    assert (changed.before.payer, changed.after.payer) == ("60054", "01112")
    assert "id" not in changed.other_elements  # the id change is the payer change, shown as such
    assert report.unchanged == 0 and report.to_json()["changed"] == 1


def test_with_a_baseline_changes_the_current_config_makes_too_are_drift() -> None:
    stored = [snap(encounter="Encounter/e1", claim_id="cb-1"), snap(encounter="Encounter/e2", claim_id="cb-2")]
    later = snap(encounter="Encounter/e1", claim_id="cb-1", findings={("dup", "Claim.item[0]"): "error"})
    candidate = [later, snap(encounter="Encounter/e2", claim_id="cb-2", items=[item(1, "99213", 150.0)])]
    baseline = [copy.deepcopy(later), snap(encounter="Encounter/e2", claim_id="cb-2")]
    report = diff_claims(stored, candidate, encounters=2, baseline=baseline)
    assert [d.claim_id for d in report.diffs] == ["cb-2"]
    assert [d.claim_id for d in report.drift] == ["cb-1"]
    assert report.unchanged == 0
    without = diff_claims(stored, candidate, encounters=2)
    assert [d.claim_id for d in without.diffs] == ["cb-1", "cb-2"] and without.drift == []


def test_snapshot_of_a_stored_view_keeps_the_most_severe_duplicate_finding() -> None:
    view = {
        "id": "cb-1",
        "encounter": "Encounter/e1",
        "payer": "60054",
        "status": "held",
        "claim": snap().claim,
        "findings": [
            {"rule": "r", "location": "Claim", "severity": "warning"},
            {"rule": "r", "location": "Claim", "severity": "error"},
        ],
    }
    assert snapshot_stored(view).findings == {("r", "Claim"): "error"}
