"""Coding: modifiers (format, known codes, contradictions, 25 and the distinct-service modifiers)."""

from __future__ import annotations

from collections.abc import Iterator

from app.domain.findings import Category, Severity
from app.rules.codes import CONTRADICTIONS, DISTINCT, MODIFIER, OFFICE_EM
from app.rules.facts import ClaimFacts, Line
from app.rules.registry import Hit, Params, register

CO = Category.CODING
ERR, WARN = Severity.ERROR, Severity.WARNING
MAX_MODIFIERS = 4
# CPT modifier codes (codes only; the descriptors are AMA-licensed and not shipped).
CPT_MODIFIERS = [
    "22", "23", "24", "25", "26", "27", "32", "33", "47", "50", "51", "52", "53", "54", "55", "56", "57",
    "58", "59", "62", "63", "66", "73", "74", "76", "77", "78", "79", "80", "81", "82", "90", "91", "92",
    "93", "95", "96", "97", "99",
]  # fmt: skip
_GLOBAL_PROCEDURE = frozenset({"000", "010", "090"})


@register(
    "coding.modifier-format", category=CO, severity=ERR, carc=("4", "182"),
    summary="Modifiers are two letters/digits, at most four per line.",
    fix="Correct the modifier codes; move extra modifiers to a second line per payer policy.",
)  # fmt: skip
def check_modifier_format(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.modified_lines:
        bad = [m for m in line.modifiers if not MODIFIER.match(m)]
        if bad:
            yield Hit(f"Line {line.code} has malformed modifier(s) {bad}.", f"{line.path}.modifier", f.claim_key)
        elif len(line.modifiers) > MAX_MODIFIERS:
            yield Hit(f"Line {line.code} has more than {MAX_MODIFIERS} modifiers.", f"{line.path}.modifier",
                      f.claim_key)  # fmt: skip


@register(
    "coding.modifier-unknown", category=CO, severity=WARN, carc=("4", "182"),
    summary="Numeric modifiers are CPT modifiers; alphabetic ones are in the HCPCS table (when loaded).",
    fix="Use a valid CPT or HCPCS Level II modifier.",
    params={"cpt_modifiers": CPT_MODIFIERS},
)  # fmt: skip
def check_modifier_known(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    cpt, hcpcs = p["cpt_modifiers"], f.refdata.hcpcs
    for line in f.modified_lines:
        for mod in line.modifiers:
            if not MODIFIER.match(mod):
                continue
            unknown = mod not in cpt if mod.isdigit() else bool(hcpcs) and mod not in hcpcs
            if unknown:
                yield Hit(f"Modifier {mod} on {line.code} is not a known modifier.", f"{line.path}.modifier",
                          f.claim_key)  # fmt: skip


@register(
    "coding.modifier-contradiction", category=CO, severity=ERR, carc=("4",),
    summary="No contradictory modifiers on one line: LT+RT (use 50 or two lines), 26+TC, 59 with XE/XS/XP/XU.",
    fix="Keep one of the two modifiers (bill LT and RT on separate lines, or 50, as the payer wants).",
)  # fmt: skip
def check_modifier_pairs(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.modified_lines:
        if len(line.modifiers) < 2:
            continue
        mods = set(line.modifiers)
        for left, right in CONTRADICTIONS:
            if mods & left and mods & right:
                pair = "+".join(sorted(mods & left) + sorted(mods & right))
                yield Hit(f"Line {line.code} carries contradictory modifiers {pair}.", f"{line.path}.modifier",
                          f.claim_key)  # fmt: skip


def is_procedure(f: ClaimFacts, line: Line) -> bool:
    """A minor/major procedure: PFS global days 000/010/090. Codes not in the table are not judged
    (a CPT-range guess would flag venipuncture and other XXX codes)."""
    return f.refdata.global_days.get(line.code) in _GLOBAL_PROCEDURE


@register(
    "coding.modifier-25-missing", category=CO, severity=ERR, carc=("4", "97"),
    summary="An office E/M billed the same day as a procedure with a 0/10/90-day global period (PFS) has 25.",
    fix="Add modifier 25 to the E/M if it was significant and separately identifiable; else drop the E/M.",
)  # fmt: skip
def check_modifier_25(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    office = [line for line in f.em_lines if line.code in OFFICE_EM and "25" not in line.modifiers]
    if not office:
        return
    global_days = f.refdata.global_days  # is_procedure, inlined
    procedure_days = {ln.dos for ln in f.lines if not ln.is_em and global_days.get(ln.code) in _GLOBAL_PROCEDURE}
    for line in office:
        if line.dos in procedure_days:
            yield Hit(f"E/M {line.code} is billed with a same-day procedure but has no modifier 25.",
                      f"{line.path}.modifier", f.claim_key)  # fmt: skip


@register(
    "coding.modifier-25-misused", category=CO, severity=ERR, carc=("4",),
    summary="Modifier 25 only appears on E/M codes.",
    fix="Remove modifier 25 from the non-E/M line.",
)  # fmt: skip
def check_modifier_25_on_em(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.modified_lines:
        if "25" in line.modifiers and not line.is_em:
            yield Hit(f"Modifier 25 on {line.code}, which is not an E/M code.", f"{line.path}.modifier",
                      f.claim_key)  # fmt: skip


@register(
    "coding.distinct-modifier-on-em", category=CO, severity=ERR, carc=("4",),
    summary="59/XE/XS/XP/XU are never put on an E/M (use 25).",
    fix="Replace the distinct-service modifier on the E/M with 25 where appropriate.",
)  # fmt: skip
def check_distinct_on_em(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.modified_lines:
        if line.is_em and not DISTINCT.isdisjoint(line.modifiers):
            found = "/".join(sorted(DISTINCT.intersection(line.modifiers)))
            yield Hit(f"E/M {line.code} carries {found}.", f"{line.path}.modifier", f.claim_key)
