"""What-if comparison: stored claims against the claims a candidate configuration would produce.

Pure: no I/O. The caller (:mod:`app.whatif_replay`, for ``claimbridge diff`` and the console) replays stored encounters
through the candidate config and hands both sides here as :class:`ClaimSnapshot` s:
:func:`snapshot_stored` from a stored claim view (``claims_repo.list_claims``) and
:func:`snapshot_replayed` from an :class:`~app.evaluate.Evaluation`. :func:`diff_claims` matches
them (same claim id; else a claim of the same encounter, i.e. the payer changed) and reports, per
claim that would change:

- total, payer and status (``held`` / ``ready``, or ``needs-replacement`` for a submitted claim,
  as the worker would set it);
- lines added / removed / changed, a line being known by its code and modifiers (the n-th such
  line when a code repeats) and compared on everything but its sequence number;
- findings that appear or disappear, by rule id and location, and findings whose severity changed;
- other claim elements that differ (``diagnosis``, ``careTeam`` ...).

A claim whose content (claim minus ``created``/``meta``, and its findings with severities) is
unchanged is not reported: the worker would not write a new version for it either.

Re-processing can change a stored claim even under the configuration that made it (the date moved
on, the patient's later claims are now history, the EHR sent edits). Given a ``baseline`` replay
through the current configuration, such changes are reported apart as ``drift``, so ``diffs`` shows
only what the candidate configuration changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.domain.claim_status import next_status
from app.evaluate import Evaluation

_IGNORED = frozenset({"created", "meta"})
_SUMMARISED = frozenset({"item", "total", "insurer", "id", "identifier"})

FindingKey = tuple[str, str]  # (rule, location)


@dataclass(frozen=True)
class ClaimSnapshot:
    claim_id: str
    encounter: str
    payer: str | None
    status: str
    claim: dict[str, Any]
    findings: dict[FindingKey, str]  # (rule, location) -> severity

    @property
    def total(self) -> float | None:
        value = (self.claim.get("total") or {}).get("value")
        return float(value) if isinstance(value, int | float) else None


def _finding_map(findings: Iterable[tuple[str, str, str]]) -> dict[FindingKey, str]:
    """(rule, location) -> the most severe severity seen for it."""
    rank = {"error": 0, "warning": 1, "info": 2}
    out: dict[FindingKey, str] = {}
    for rule, location, severity in findings:
        key = (rule, location)
        if key not in out or rank.get(severity, 3) < rank.get(out[key], 3):
            out[key] = severity
    return out


def snapshot_stored(view: dict[str, Any]) -> ClaimSnapshot:
    """A stored claim (a ``claims_repo.list_claims`` view) as a snapshot."""
    return ClaimSnapshot(
        claim_id=str(view["id"]),
        encounter=str(view["encounter"]),
        payer=view.get("payer"),
        status=str(view["status"]),
        claim=dict(view["claim"]),
        findings=_finding_map((f["rule"], f["location"], f["severity"]) for f in view.get("findings") or ()),
    )


def replay_status(*, held: bool, previous: str | None, with_payer: bool = False) -> str:
    """The status the worker gives a new version (:func:`app.domain.claim_status.next_status`)."""
    return next_status(held=held, previous=previous, with_payer=lambda: with_payer)


def snapshot_replayed(ev: Evaluation, *, previous_status: str | None, with_payer: bool = False) -> ClaimSnapshot:
    """A replayed evaluation as a snapshot (status as the worker would set it)."""
    return ClaimSnapshot(
        claim_id=ev.claim_id,
        encounter=ev.encounter,
        payer=ev.payer_id,
        status=replay_status(held=ev.held, previous=previous_status, with_payer=with_payer),
        claim=ev.claim,
        findings=_finding_map((f.rule, f.location, f.severity.value) for f in ev.findings),
    )


@dataclass(frozen=True)
class LineView:
    code: str
    modifiers: tuple[str, ...]
    quantity: float | None
    net: float | None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "modifiers": list(self.modifiers), "quantity": self.quantity, "net": self.net}


@dataclass(frozen=True)
class ClaimDiff:
    kind: str  # changed | added | removed
    encounter: str
    claim_id: str
    before: ClaimSnapshot | None
    after: ClaimSnapshot | None
    lines_added: list[LineView] = field(default_factory=list)
    lines_removed: list[LineView] = field(default_factory=list)
    lines_changed: list[tuple[LineView, LineView]] = field(default_factory=list)
    findings_appeared: list[FindingKey] = field(default_factory=list)
    findings_disappeared: list[FindingKey] = field(default_factory=list)
    severity_changed: list[tuple[FindingKey, str, str]] = field(default_factory=list)
    other_elements: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def side(snap: ClaimSnapshot | None) -> dict[str, Any] | None:
            if snap is None:
                return None
            return {"claim_id": snap.claim_id, "payer": snap.payer, "status": snap.status, "total": snap.total}

        return {
            "kind": self.kind,
            "encounter": self.encounter,
            "claim_id": self.claim_id,
            "before": side(self.before),
            "after": side(self.after),
            "lines": {
                "added": [line.to_json() for line in self.lines_added],
                "removed": [line.to_json() for line in self.lines_removed],
                "changed": [{"before": b.to_json(), "after": a.to_json()} for b, a in self.lines_changed],
            },
            "findings": {
                "appeared": [{"rule": r, "location": loc} for r, loc in self.findings_appeared],
                "disappeared": [{"rule": r, "location": loc} for r, loc in self.findings_disappeared],
                "severity_changed": [
                    {"rule": r, "location": loc, "before": b, "after": a} for (r, loc), b, a in self.severity_changed
                ],
            },
            "other_elements": self.other_elements,
        }


@dataclass(frozen=True)
class DiffReport:
    encounters: int  # encounters replayed
    unchanged: int  # claims that would stay as they are
    diffs: list[ClaimDiff]  # what the candidate configuration changes
    drift: list[ClaimDiff] = field(default_factory=list)  # what re-processing changes anyway

    def count(self, kind: str) -> int:
        return sum(1 for d in self.diffs if d.kind == kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "encounters": self.encounters,
            "unchanged": self.unchanged,
            "changed": self.count("changed"),
            "added": self.count("added"),
            "removed": self.count("removed"),
            "claims": [d.to_json() for d in self.diffs],
            "drift": [d.to_json() for d in self.drift],
        }


def _number(value: Any) -> float | None:
    inner = value.get("value") if isinstance(value, dict) else None
    return float(inner) if isinstance(inner, int | float) and not isinstance(inner, bool) else None


def _first_code(concept: Any) -> str:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    for coding in codings or ():
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return ""


def _line_view(item: dict[str, Any]) -> LineView:
    return LineView(
        code=_first_code(item.get("productOrService")),
        modifiers=tuple(_first_code(m) for m in item.get("modifier") or ()),
        quantity=_number(item.get("quantity")),
        net=_number(item.get("net")),
    )


def _keyed_lines(claim: dict[str, Any]) -> dict[tuple[str, tuple[str, ...], int], dict[str, Any]]:
    out: dict[tuple[str, tuple[str, ...], int], dict[str, Any]] = {}
    seen: dict[tuple[str, tuple[str, ...]], int] = {}
    for item in claim.get("item") or ():
        if not isinstance(item, dict):
            continue
        view = _line_view(item)
        base = (view.code, view.modifiers)
        seen[base] = seen.get(base, 0) + 1
        out[(*base, seen[base])] = item
    return out


def _without_sequence(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "sequence"}


def _content(snap: ClaimSnapshot) -> tuple[dict[str, Any], dict[FindingKey, str]]:
    return {k: v for k, v in snap.claim.items() if k not in _IGNORED}, snap.findings


def compare_claims(before: ClaimSnapshot | None, after: ClaimSnapshot | None) -> ClaimDiff | None:
    """What would change from ``before`` (stored) to ``after`` (replayed); None when nothing would."""
    if before is None and after is None:
        return None
    if before is not None and after is not None and _content(before) == _content(after):
        return None
    kind = "removed" if after is None else "added" if before is None else "changed"
    old, new = (before.claim if before else {}), (after.claim if after else {})
    old_lines, new_lines = _keyed_lines(old), _keyed_lines(new)
    old_findings, new_findings = (before.findings if before else {}), (after.findings if after else {})
    subject = after if after is not None else before
    if subject is None:  # pragma: no cover - excluded above
        return None
    return ClaimDiff(
        kind=kind,
        encounter=subject.encounter,
        claim_id=subject.claim_id,
        before=before,
        after=after,
        lines_added=[_line_view(new_lines[k]) for k in new_lines if k not in old_lines],
        lines_removed=[_line_view(old_lines[k]) for k in old_lines if k not in new_lines],
        lines_changed=[
            (_line_view(old_lines[k]), _line_view(new_lines[k]))
            for k in new_lines
            if k in old_lines and _without_sequence(old_lines[k]) != _without_sequence(new_lines[k])
        ],
        findings_appeared=sorted(set(new_findings) - set(old_findings)),
        findings_disappeared=sorted(set(old_findings) - set(new_findings)),
        severity_changed=[
            (k, old_findings[k], new_findings[k])
            for k in sorted(old_findings)
            if k in new_findings and old_findings[k] != new_findings[k]
        ],
        other_elements=_other_elements(old, new) if kind == "changed" else [],
    )


def _other_elements(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in (old.keys() | new.keys()) - _IGNORED - _SUMMARISED if old.get(k) != new.get(k))


def _pair(
    stored: list[ClaimSnapshot], replayed: list[ClaimSnapshot]
) -> list[tuple[ClaimSnapshot | None, ClaimSnapshot | None]]:
    """Match by claim id, then an unmatched replayed claim to an unmatched stored one of its encounter."""
    by_id = {s.claim_id: s for s in stored}
    used: set[str] = set()
    pairs: list[tuple[ClaimSnapshot | None, ClaimSnapshot | None]] = []
    pending: list[ClaimSnapshot] = []
    for new in replayed:
        if new.claim_id in by_id and new.claim_id not in used:
            used.add(new.claim_id)
            pairs.append((by_id[new.claim_id], new))
        else:
            pending.append(new)
    for new in pending:
        old = next((s for s in stored if s.encounter == new.encounter and s.claim_id not in used), None)
        if old is not None:
            used.add(old.claim_id)
        pairs.append((old, new))
    pairs += [(s, None) for s in stored if s.claim_id not in used]
    return pairs


def _by_encounter(snapshots: Iterable[ClaimSnapshot]) -> dict[str, list[ClaimSnapshot]]:
    out: dict[str, list[ClaimSnapshot]] = {}
    for snap in snapshots:
        out.setdefault(snap.encounter, []).append(snap)
    return out


def _same_outcome(one: list[ClaimSnapshot], other: list[ClaimSnapshot]) -> bool:
    def key(snaps: list[ClaimSnapshot]) -> list[Any]:
        return sorted(([s.claim_id, s.status, *_content(s)] for s in snaps), key=lambda k: str(k[0]))

    return key(one) == key(other)


def diff_claims(
    stored: Iterable[ClaimSnapshot],
    replayed: Iterable[ClaimSnapshot],
    *,
    encounters: int,
    baseline: Iterable[ClaimSnapshot] | None = None,
) -> DiffReport:
    """Compare stored claims with replayed ones, encounter by encounter.

    With ``baseline`` (the same encounters replayed through the current configuration), the changes
    of an encounter whose candidate outcome equals its baseline outcome are not the candidate's
    doing: they go to ``drift`` (what re-processing would change anyway: the date, claims stored
    since, edits in the EHR), and ``diffs`` keeps what the candidate configuration changes.
    """
    old_by, new_by = _by_encounter(stored), _by_encounter(replayed)
    base_by = _by_encounter(baseline) if baseline is not None else None
    diffs: list[ClaimDiff] = []
    drift: list[ClaimDiff] = []
    unchanged = 0
    for encounter in sorted(old_by.keys() | new_by.keys() | (base_by or {}).keys()):
        new = new_by.get(encounter, [])
        pairs = _pair(old_by.get(encounter, []), new)
        found = sorted(
            (d for old, fresh in pairs if (d := compare_claims(old, fresh)) is not None), key=lambda d: d.claim_id
        )
        unchanged += len(pairs) - len(found)
        same_as_baseline = base_by is not None and _same_outcome(new, base_by.get(encounter, []))
        (drift if same_as_baseline else diffs).extend(found)
    return DiffReport(encounters=encounters, unchanged=unchanged, diffs=diffs, drift=drift)
