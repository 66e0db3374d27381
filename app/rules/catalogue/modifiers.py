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
_MINOR = frozenset({"000", "010"})
_JUDGED = frozenset({"000", "010", "XXX"})


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


def needs_25(f: ClaimFacts, em: Line, procedure: Line) -> bool:
    """Does a same-day ``procedure`` make ``em`` need modifier 25 (NCCI policy manual, ch. I and XI)?

    Minor procedures (global 000/010): yes. Major ones (090): no, the decision for surgery takes 57
    (:mod:`app.rules.catalogue.global_surgery`). XXX procedures: only those NCCI pairs with the E/M
    (a PTP edit with modifier indicator 1 on the date): the procedure's own pre- and post-service
    work is never a separate E/M, but a significant, separately identifiable E/M is, with 25."""
    days = f.refdata.global_days.get(procedure.code)
    if days in _MINOR:
        return True
    if days != "XXX" or em.dos is None:
        return False
    edit = f.refdata.ptp_edit(procedure.code, em.code, em.dos) or f.refdata.ptp_edit(em.code, procedure.code, em.dos)
    return edit is not None and edit.modifier == 1


@register(
    "coding.modifier-25-missing", category=CO, severity=ERR, carc=("4", "97"),
    summary="An office E/M billed the same day as a 0/10-day global procedure (PFS), or as an XXX procedure "
            "NCCI pairs with it (PTP modifier indicator 1), has 25.",
    fix="Add modifier 25 to the E/M if it was significant and separately identifiable; else drop the E/M.",
)  # fmt: skip
def check_modifier_25(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    office = [line for line in f.em_lines if line.code in OFFICE_EM and "25" not in line.modifiers]
    if not office:
        return
    global_days = f.refdata.global_days
    procedures = [ln for ln in f.lines if not ln.is_em and global_days.get(ln.code) in _JUDGED]
    for line in office:
        hit = next((pr for pr in procedures if pr.dos == line.dos and needs_25(f, line, pr)), None)
        if hit is not None:
            yield Hit(f"E/M {line.code} is billed with a same-day procedure ({hit.code}) but has no modifier 25.",
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
