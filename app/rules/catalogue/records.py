"""Documentation: encounter closed, visit note final (or required), drug NDCs, attachments."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from app.domain.context import linked_encounters
from app.domain.findings import Category, Severity
from app.rules.codes import DRUG_CODE, NDC11
from app.rules.facts import ClaimFacts
from app.rules.registry import Hit, Params, register
from app.rules.values import Resource, code_in, codings, key_of

DOC = Category.DOCUMENTATION
ERR, WARN = Severity.ERROR, Severity.WARNING
_FINAL_DOC = frozenset({"final", "amended"})
_FINAL_COMPOSITION = frozenset({"final", "amended"})
_MEMO_LIMIT = 8192
_NOTE_TYPES = ("DocumentReference", "Composition")


@register(
    "documentation.encounter-not-finished", category=DOC, severity=ERR,
    summary="The encounter is finished before its claim is sent.",
    fix="Close the encounter in the EHR (status finished); the claim is held until then.",
)  # fmt: skip
def check_encounter_finished(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    status = f.encounter.get("status")
    if status != "finished":
        yield Hit(f"Encounter status is {status or 'missing'}, not finished.", "Encounter.status",
                  key_of(f.encounter))  # fmt: skip


def visit_notes(f: ClaimFacts, note_types: list[str]) -> list[Resource]:
    """DocumentReference / Composition resources about this encounter (optionally of given types)."""
    notes: list[Resource] | None = f.memo.get("notes")
    if notes is None:  # ctx.linked("DocumentReference") + ctx.linked("Composition"), in one pass
        key, by_type = f.ctx.key, f.ctx.index.by_type
        notes = [r for kind in _NOTE_TYPES for r in by_type.get(kind, ()) if key in linked_encounters(r)]
        f.memo["notes"] = notes
    if not note_types:
        return notes
    wanted = set(note_types)
    return [n for n in notes if any(c.get("code") in wanted for c in codings(n.get("type")))]


def _is_final(note: Resource) -> bool:
    if note.get("resourceType") == "Composition":
        return note.get("status") in _FINAL_COMPOSITION
    if note.get("status") not in (None, "current"):
        return False
    return note.get("docStatus") in (None, *_FINAL_DOC)


@register(
    "documentation.visit-note-not-final", category=DOC, severity=WARN, carc=("252",),
    summary="A visit note on the encounter is final (DocumentReference.docStatus final, status current).",
    fix="Ask the clinician to sign/finalize the visit note before billing.",
    params={"note_types": []},
)  # fmt: skip
def check_note_final(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for note in visit_notes(f, p["note_types"]):
        if not _is_final(note):
            kind = note.get("resourceType")
            element = "status" if kind == "Composition" else "docStatus"
            yield Hit("The visit note is not final.", f"{kind}.{element}", key_of(note))


@register(
    "documentation.visit-note-missing", category=DOC, severity=WARN, carc=("252",),
    summary="Where the payer or site requires it (profile visit_note_required or param), a note exists.",
    fix="Attach the visit note (DocumentReference) to the encounter.",
    params={"required": False, "note_types": []},
)  # fmt: skip
def check_note_present(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if (p["required"] or f.profile.visit_note_required) and not visit_notes(f, p["note_types"]):
        yield Hit("No visit note on file for this encounter.", "Encounter", key_of(f.encounter))


@register(
    "documentation.drug-ndc-missing", category=DOC, severity=ERR, carc=("16",),
    summary="Drug lines (J-codes) carry the NDC in item.detail (837P LIN*N4), where the payer wants it.",
    fix="Add the administered product's 11-digit NDC as an item.detail.",
)  # fmt: skip
def check_ndc_present(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if not f.profile.ndc_required:
        return
    for line in f.lines:
        if line.code[:1] == "J" and DRUG_CODE.match(line.code) and not line.ndcs:  # J-codes only
            yield Hit(f"Drug line {line.code} has no NDC.", f"{line.path}.detail", f.claim_key)


@register(
    "documentation.drug-ndc-invalid", category=DOC, severity=ERR, carc=("16",),
    summary="NDCs on drug lines are 11 digits in 5-4-2 form.",
    fix="Convert the NDC to the 11-digit 5-4-2 format (pad the short segment with a leading zero).",
)  # fmt: skip
def check_ndc_format(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.lines:
        if not line.ndcs:  # the usual case: no enumerate per line
            continue
        for n, ndc in enumerate(line.ndcs):
            if not NDC11.match(ndc):
                yield Hit(f"NDC on {line.code} is not 11 digits (5-4-2).", f"{line.path}.detail[{n}]",
                          f.claim_key)  # fmt: skip


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=64)
def _matches(pattern: str) -> dict[str, bool]:
    """Memo of ``pattern`` matched against codes (codes repeat across claims; a dict hit is cheaper
    than a regex match)."""
    return {}


def _match(pattern: str, code: str) -> bool:
    memo = _matches(pattern)
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    found = memo[code] = _compiled(pattern).match(code) is not None
    return found


def _has_attachment(claim: Resource) -> bool:
    for info in claim.get("supportingInfo") or ():  # usually absent
        if not isinstance(info, dict):
            continue
        found = code_in(info.get("category"))
        if info.get("valueAttachment") or info.get("valueReference") or (found and found[1] == "attachment"):
            return True
    return False


@register(
    "documentation.attachment-missing", category=DOC, severity=WARN, carc=("252",),
    summary="Unlisted codes (###99) and modifier 22 come with an attachment (Claim.supportingInfo).",
    fix="Attach the operative/visit note as supportingInfo (837P PWK).",
    params={"unlisted_pattern": r"^\d{3}99$", "modifiers": ["22"]},
)  # fmt: skip
def check_attachment(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if _has_attachment(f.claim):
        return
    unlisted = _matches(p["unlisted_pattern"])
    mods = frozenset(p["modifiers"])
    for line in f.lines:
        matched = unlisted.get(line.code)
        if matched is None:
            matched = _match(p["unlisted_pattern"], line.code)
        if matched or (line.modifiers and not mods.isdisjoint(line.modifiers)):
            yield Hit(f"{line.code} needs supporting documentation attached.", "Claim.supportingInfo",
                      f.claim_key)  # fmt: skip
