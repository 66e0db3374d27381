"""Coding: NCCI procedure-to-procedure edits and medically unlikely edits (MUE), across same-day claims.

Both look at this claim's lines and at the lines of earlier claims (History) for the same billing
provider and date of service, since CMS applies them per provider, patient and date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date

from app.domain.findings import Category, Severity
from app.refdata.tables import MueEntry, PtpEdit
from app.rules.codes import NCCI_BYPASS
from app.rules.facts import ClaimFacts, Line
from app.rules.registry import Hit, Params, register
from app.rules.values import ref_key

CO = Category.CODING
ERR = Severity.ERROR
Pair = tuple[PtpEdit, Line, Line, bool]  # edit, column-1 line, column-2 line, column-2 is on this claim


def same_day_lines(f: ClaimFacts) -> list[tuple[Line, bool]]:
    """``(line, on this claim)`` for this claim and same-provider earlier claims on the same dates."""
    cached: list[tuple[Line, bool]] | None = f.memo.get("same_day")
    if cached is not None:
        return cached
    out = [(line, True) for line in f.lines]
    if f.history.prior_claims and f.history_lines:
        dates = {line.dos for line in f.lines if line.dos}
        provider = ref_key(f.claim.get("provider"))
        for other, line in f.history_lines:
            if line.dos in dates and ref_key(other.get("provider")) == provider:
                out.append((line, False))
    f.memo["same_day"] = out
    return out


def ptp_pairs(f: ClaimFacts) -> list[Pair]:
    cached: list[Pair] | None = f.memo.get("ptp")
    if cached is not None:
        return cached
    pairs: list[Pair] = []
    index = f.refdata.ptp_partners
    if index:
        lines = same_day_lines(f)
        codes = {line.code for line, _ in lines}
        for a, a_here in lines:
            partners = index.get(a.code)
            if not partners or not a.dos or partners.isdisjoint(codes):
                continue
            for b, b_here in lines:
                if (a_here or b_here) and b.code in partners and a.dos == b.dos:
                    edit = f.refdata.ptp_edit(a.code, b.code, a.dos)
                    if edit is not None:
                        pairs.append((edit, a, b, b_here))
    f.memo["ptp"] = pairs
    return pairs


def _at(pair: Pair) -> str:
    _, col1, col2, col2_here = pair
    return f"{(col2 if col2_here else col1).path}.productOrService"


@register(
    "coding.ncci-ptp-not-allowed", category=CO, severity=ERR, carc=("97", "234", "236"),
    summary="No NCCI PTP pair with modifier indicator 0 (column-2 code never separately payable).",
    fix="Remove the column-2 line (it is included in the column-1 service).",
)  # fmt: skip
def check_ptp_zero(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for pair in ptp_pairs(f):
        edit, col1, col2, _ = pair
        if edit.modifier == 0:
            yield Hit(f"{col2.code} is bundled into {col1.code} on {col1.dos} (NCCI, no modifier allowed).",
                      _at(pair), f.claim_key)  # fmt: skip


@register(
    "coding.ncci-ptp-modifier-required", category=CO, severity=ERR, carc=("97", "234", "236"),
    summary="An NCCI PTP pair with modifier indicator 1 carries an NCCI-associated modifier (59, X{EPSU}, ...).",
    fix="If the services were distinct, add the right modifier (XS/XE/XP/XU or 59); otherwise drop column 2.",
)  # fmt: skip
def check_ptp_one(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for pair in ptp_pairs(f):
        edit, col1, col2, _ = pair
        if edit.modifier == 1 and not NCCI_BYPASS.intersection(col1.modifiers + col2.modifiers):
            yield Hit(f"{col2.code} with {col1.code} on {col1.dos} needs an NCCI-associated modifier.",
                      _at(pair), f.claim_key)  # fmt: skip


@register(
    "coding.mue-exceeded", category=CO, severity=ERR, carc=("151",),
    summary="Units stay within the MUE: per line (MAI 1) or per date of service across claims (MAI 2/3).",
    fix="Check the units; bill the excess only with documentation per payer policy (MAI 2 cannot be appealed).",
)  # fmt: skip
def check_mue(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    table = f.refdata.mue
    if not table:
        return
    per_day: dict[tuple[str, date], float] = defaultdict(float)
    first_here: dict[tuple[str, date], tuple[Line, MueEntry]] = {}
    for line, here in same_day_lines(f):
        if line.dos is None or line.code not in table:
            continue
        entry = f.refdata.mue_for(line.code, line.dos)
        if entry is None:
            continue
        if entry.mai == 1:
            if here and (line.units or 0) > entry.value:
                yield Hit(f"{line.units:g} units of {line.code} exceed the MUE of {entry.value} per line.",
                          f"{line.path}.quantity", f.claim_key)  # fmt: skip
            continue
        key = (line.code, line.dos)
        per_day[key] += line.units or 0
        if here and key not in first_here:
            first_here[key] = (line, entry)  # the same (code, date) always finds the same entry
    for key, (line, entry) in first_here.items():
        if per_day[key] > entry.value:
            yield Hit(f"{per_day[key]:g} units of {key[0]} on {key[1]} exceed the MUE of {entry.value} per day.",
                      f"{line.path}.quantity", f.claim_key)  # fmt: skip
