"""Duplicates: one original claim per encounter and payer; identical lines already billed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from app.domain.context import EncounterContext
from app.domain.findings import Category, Severity
from app.rules.codes import REPEAT
from app.rules.facts import ClaimFacts, Line, member_id_of
from app.rules.registry import Hit, Params, register
from app.rules.values import Resource, key_of, npi_of, obj, ref_key

DU = Category.DUPLICATE
ERR, WARN = Severity.ERROR, Severity.WARNING
LineKey = tuple[str | None, str | None, date | None, str, tuple[str, ...], float | None]


def _focal_coverage(claim: Resource) -> str | None:
    """The coverage of the focal insurance, else of the first one."""
    first: Resource | None = None
    for entry in claim.get("insurance") or ():
        insurance = obj(entry)
        if insurance.get("focal") is True:
            return ref_key(insurance.get("coverage"))
        if first is None:
            first = insurance
    return ref_key((first or {}).get("coverage"))


def _shares_encounter(claim: Resource, keys: frozenset[str]) -> bool:
    """Whether any line of ``claim`` names one of the encounters ``keys`` (stops at the first)."""
    for item in claim.get("item") or ():
        for ref in obj(item).get("encounter") or ():
            if ref_key(ref) in keys:
                return True
    return False


def _same_payer(f: ClaimFacts, other: Resource) -> bool:
    cov = _focal_coverage(other)
    if cov and f.coverage_key:
        return cov == f.coverage_key
    insurer = ref_key(other.get("insurer"))
    return insurer is not None and insurer == ref_key(f.claim.get("insurer"))


@register(
    "duplicate.original-claim-exists", category=DU, severity=ERR, carc=("18",),
    summary="Only one original claim per encounter and payer; a resubmission must be a replacement.",
    fix="Send this as a replacement (Claim.related relationship 'prior' with the payer claim number).",
)  # fmt: skip
def check_original_exists(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.is_replacement:
        return
    for other in f.other_claims:
        if _shares_encounter(other, f.encounter_keys) and _same_payer(f, other):
            yield Hit("An original claim for this encounter and payer already exists.", "Claim.related",
                      key_of(other))  # fmt: skip
            return


@register(
    "duplicate.replacement-missing-payer-claim-number", category=DU, severity=ERR, carc=("16", "18"),
    summary="A replacement claim carries the payer's claim control number (Claim.related.reference).",
    fix="Copy the payer claim number from the 277CA/835 into Claim.related.reference.",
)  # fmt: skip
def check_replacement_reference(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.is_replacement and not any(obj(r.get("reference")).get("value") for r in f.related):
        yield Hit("Replacement claim without the payer claim number.", "Claim.related.reference", f.claim_key)


class _Providers:
    """Provider identity (NPI, else reference) per care-team sequence of one claim, resolved once."""

    def __init__(self, ctx: EncounterContext, claim: Resource) -> None:
        self.ctx = ctx
        self.team = {obj(m).get("sequence"): obj(m).get("provider") for m in claim.get("careTeam") or ()}
        self.billing = self._identity(claim.get("provider"))
        self.seen: dict[Any, str | None] = {}

    def _identity(self, ref: Any) -> str | None:
        return npi_of(self.ctx.resolve(ref)) or ref_key(ref)

    def of(self, line: Line) -> str | None:
        if not line.care_team:
            return self.billing
        seq = line.care_team[0]
        if seq not in self.seen:
            self.seen[seq] = self._identity(self.team.get(seq))
        return self.seen[seq]


def _key(providers: _Providers, member: str | None, line: Line) -> LineKey:
    return (member, providers.of(line), line.dos, line.code, tuple(sorted(line.modifiers)), line.units)


def _current_keys(f: ClaimFacts) -> list[LineKey]:
    cached: list[LineKey] | None = f.memo.get("line_keys")
    if cached is None:
        providers = _Providers(f.ctx, f.claim)
        cached = [_key(providers, f.member_id, line) for line in f.lines]
        f.memo["line_keys"] = cached
    return cached


def _history_keys(f: ClaimFacts) -> list[tuple[Resource, Line, LineKey]]:
    """Every earlier claim line with its duplicate key (computed once per claim)."""
    cached: list[tuple[Resource, Line, LineKey]] | None = f.memo.get("history_keys")
    if cached is None:
        cached = []
        per_claim: dict[int, tuple[_Providers, str | None]] = {}
        for other, line in f.history_lines:
            if id(other) not in per_claim:
                coverage = f.ctx.resolve({"reference": _focal_coverage(other) or ""})
                per_claim[id(other)] = (_Providers(f.ctx, other), member_id_of(coverage) or f.member_id)
            providers, member = per_claim[id(other)]
            cached.append((other, line, _key(providers, member, line)))
        f.memo["history_keys"] = cached
    return cached


@register(
    "duplicate.line-already-billed", category=DU, severity=ERR, carc=("18",),
    summary="No line identical (member, NPI, date, code, modifiers, units) to one on another claim.",
    fix="Remove the line, or mark a true repeat with 76/77/91 and document it.",
)  # fmt: skip
def check_line_billed(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    seen = {key: other for other, _, key in _history_keys(f)}
    if not seen:
        return
    for line, key in zip(f.lines, _current_keys(f), strict=True):
        other = seen.get(key)
        if other is not None:
            yield Hit(f"{line.code} on {line.dos} was already billed.", line.path, key_of(other))


@register(
    "duplicate.repeat-service-modifier-missing", category=DU, severity=WARN, carc=("18",),
    summary="The same code on the same date (this or another claim) is marked as a repeat (76/77/91/59/X).",
    fix="Add 76/77 (repeat procedure), 91 (repeat lab) or XE/XS/XP/XU, or merge the units on one line.",
)  # fmt: skip
def check_repeat_modifier(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    history = _history_keys(f)
    exact = {key for _, _, key in history}  # those are reported as line-already-billed
    earlier = {(line.code, line.dos) for _, line, _ in history}
    keys = _current_keys(f) if exact else None
    for n, line in enumerate(f.lines):
        slot = (line.code, line.dos)
        if slot in earlier and (keys is None or keys[n] not in exact):
            if not line.modifiers or REPEAT.isdisjoint(line.modifiers):
                yield Hit(f"{line.code} on {line.dos} is billed again without a repeat modifier.",
                          f"{line.path}.modifier", f.claim_key)  # fmt: skip
        else:
            earlier.add(slot)
