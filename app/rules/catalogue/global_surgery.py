"""Coding: E/M visits around a major procedure (PFS global surgery): modifiers 57 and 24.

- **57**, decision for surgery: an office E/M on the day of, or the day before, a procedure with a
  90-day global period (PFS global days 090) is part of the surgical package unless it is the visit
  where the decision to operate was made, billed with 57.
  The E/M claim usually goes out before the next day's surgery is recorded, so the procedure's
  claim looks back as well (``coding.modifier-57-earlier-visit``, a warning: the fix is a corrected
  E/M claim, not this one).
- **24**, unrelated E/M in the postoperative period: an office E/M by the same billing provider
  within the 10 (global 010) or 90 (global 090) days after a procedure billed on another claim is
  included in the package unless it is unrelated to the surgery, billed with 24. A warning: only
  the coder can say whether the visit was related.

The procedures are this claim's lines and the lines of the patient's other claims (History) with the
same billing provider.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from datetime import timedelta

from app.domain.findings import Category, Severity
from app.rules.claimlines import default_dos, items_coded, read_line
from app.rules.codes import OFFICE_EM
from app.rules.facts import ClaimFacts, Line
from app.rules.registry import Hit, Params, register
from app.rules.values import Resource, ref_key

CO = Category.CODING
POST_OP_DAYS = {"010": 10, "090": 90}


_POST_OP: dict[int, tuple[dict[str, str], frozenset[str]]] = {}  # id(global_days) -> (it, its 010/090 codes)


def _post_op_codes(days: dict[str, str]) -> frozenset[str]:
    """The codes with a 010 or 090 global period in ``days`` (computed once per table)."""
    found = _POST_OP.get(id(days))
    if found is None or found[0] is not days:
        if len(_POST_OP) >= 64:
            _POST_OP.clear()
        found = _POST_OP[id(days)] = (days, frozenset(c for c, d in days.items() if d in POST_OP_DAYS))
    return found[1]


def _provider_claims(f: ClaimFacts) -> list[Resource]:
    """The same billing provider's other claims."""
    cached: list[Resource] | None = f.memo.get("provider_claims")
    if cached is None:
        provider = ref_key(f.claim.get("provider"))
        cached = [other for other in f.other_claims if ref_key(other.get("provider")) == provider]
        f.memo["provider_claims"] = cached
    return cached


def _other_lines(f: ClaimFacts, key: str, wanted: Container[str]) -> list[Line]:
    """The lines of the same provider's other claims whose code is in ``wanted`` (read as read_lines reads
    them, in claim then item order; only those parsed), read once per claim under ``memo[key]``."""
    cached: list[Line] | None = f.memo.get(key)
    if cached is None:
        cached = []
        for other in _provider_claims(f):
            found = items_coded(other, wanted)
            if found:
                default = default_dos(other)
                cached.extend(read_line(item, n, default) for n, item in found)
        f.memo[key] = cached
    return cached


def other_procedures(f: ClaimFacts) -> list[Line]:
    """The 010/090-global procedure lines of the same provider's other claims."""
    return _other_lines(f, "provider_procedures", _post_op_codes(f.refdata.global_days))


def other_visits(f: ClaimFacts) -> list[Line]:
    """The office E/M lines of the same provider's other claims."""
    return _other_lines(f, "provider_visits", OFFICE_EM)


def _office_em(f: ClaimFacts, modifier: str) -> list[Line]:
    return [ln for ln in f.em_lines if ln.code in OFFICE_EM and ln.dos and modifier not in ln.modifiers]


@register(
    "coding.modifier-57-missing", category=CO, severity=Severity.ERROR, carc=("4", "97"),
    summary="An office E/M on the day of or the day before a 090-global procedure (PFS) has 57 "
            "(decision for surgery).",
    fix="Add modifier 57 if this visit is where the decision to operate was made; otherwise the E/M is "
        "part of the global surgical package: drop it.",
)  # fmt: skip
def check_modifier_57(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    visits = _office_em(f, "57")
    if not visits:
        return
    days = f.refdata.global_days
    majors = [ln for ln in (*f.lines, *other_procedures(f)) if ln.dos and days.get(ln.code) == "090"]
    for visit in visits:
        assert visit.dos is not None
        hit = next((m for m in majors if m.dos in (visit.dos, visit.dos + timedelta(days=1))), None)
        if hit is not None:
            when = "the same day as" if hit.dos == visit.dos else "the day before"
            yield Hit(f"E/M {visit.code} on {visit.dos} is {when} major procedure {hit.code} (090 global) "
                      "but has no modifier 57.", f"{visit.path}.modifier", f.claim_key)  # fmt: skip


@register(
    "coding.modifier-57-earlier-visit", category=CO, severity=Severity.WARNING, carc=("4", "97"),
    summary="A 090-global procedure follows, the same or the next day, an office E/M on an earlier claim of the "
            "same provider that has no 57.",
    fix="If that visit is where the decision to operate was made, send a corrected claim for it with modifier "
        "57; otherwise the payer will take it back as part of the global surgical package.",
)  # fmt: skip
def check_modifier_57_earlier(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if not f.other_claims:
        return
    days = f.refdata.global_days
    majors = [ln for ln in f.lines if ln.dos and days.get(ln.code) == "090"]
    if not majors:
        return
    visits = [ln for ln in other_visits(f) if ln.is_em and ln.dos and "57" not in ln.modifiers]
    for major in majors:
        assert major.dos is not None
        visit = next((v for v in visits if v.dos in (major.dos, major.dos - timedelta(days=1))), None)
        if visit is not None:
            message = (f"Major procedure {major.code} (090 global) on {major.dos} follows E/M {visit.code} of "
                       f"{visit.dos} on an earlier claim, which has no modifier 57.")  # fmt: skip
            yield Hit(message, major.path, f.claim_key)


@register(
    "coding.modifier-24-missing", category=CO, severity=Severity.WARNING, carc=("4", "97"),
    summary="An office E/M in the postoperative period (10/90 days) of the same provider's earlier "
            "procedure has 24 when it is unrelated to the surgery.",
    fix="If the visit was unrelated to the surgery, add modifier 24 (and a diagnosis showing why); if it "
        "was related, it is part of the global package: drop the E/M.",
)  # fmt: skip
def check_modifier_24(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    visits = _office_em(f, "24")
    if not visits or not f.other_claims:
        return
    days = f.refdata.global_days
    earlier = [ln for ln in other_procedures(f) if ln.dos]
    for visit in visits:
        assert visit.dos is not None
        for surgery in earlier:
            assert surgery.dos is not None
            period = POST_OP_DAYS[days[surgery.code]]
            if surgery.dos < visit.dos <= surgery.dos + timedelta(days=period):
                yield Hit(f"E/M {visit.code} on {visit.dos} falls in the {period}-day postoperative period of "
                          f"{surgery.code} ({surgery.dos}) without modifier 24.", f"{visit.path}.modifier",
                          f.claim_key)  # fmt: skip
                break
