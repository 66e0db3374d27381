"""Coding: procedure codes (CPT/HCPCS format, HCPCS dates), E/M place of service, age and sex edits."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from app.domain.findings import Category, Severity
from app.refdata.tables import RefData
from app.rules.codes import HCPCS_LEVEL2, HOSPITAL_EM, OFFICE_EM, PROCEDURE_CODE, PROCEDURE_SYSTEMS
from app.rules.facts import ClaimFacts
from app.rules.registry import Hit, Params, register
from app.rules.values import age_on

CO = Category.CODING
_Answers = dict[str, dict[str, Any]]  # kind (dx|px) -> code -> answer
_LAST: list[tuple[RefData | None, _Answers, _Answers]] = [(None, {}, {})]
_MISSING: Any = object()
_MEMO_LIMIT = 16384
_LEVEL2_FIRST = frozenset("ABCEFGHIJKLMNOPQRSTUV")  # what HCPCS_LEVEL2 allows first: a cheap pre-check
ERR, WARN = Severity.ERROR, Severity.WARNING


@register(
    "coding.procedure-code-format", category=CO, severity=ERR, carc=("16", "181"),
    summary="Each line is coded in CPT or HCPCS with a well-formed code (5 digits, ####F/T/U, or A-V####).",
    fix="Use the CPT/HCPCS code (system http://www.ama-assn.org/go/cpt or the CMS HCPCS system).",
)  # fmt: skip
def check_code_format(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.lines:
        if line.system not in PROCEDURE_SYSTEMS:
            yield Hit(f"Line is not coded in CPT/HCPCS ({line.code or 'no code'}).",
                      f"{line.path}.productOrService", f.claim_key)  # fmt: skip
        elif not _well_formed(line.code):
            yield Hit(f"{line.code!r} is not a valid CPT/HCPCS code format.", f"{line.path}.productOrService",
                      f.claim_key)  # fmt: skip


@register(
    "coding.hcpcs-inactive", category=CO, severity=ERR, carc=("181",),
    summary="A HCPCS Level II code is in effect on the date of service (ANWEB add/effective/termination).",
    fix="Use the code that replaced it for this date of service.",
)  # fmt: skip
def check_hcpcs_dates(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    table = f.refdata.hcpcs
    for line in f.lines:
        entry = table.get(line.code)
        if entry is not None and entry.kind == "code" and line.dos and not entry.active_on(line.dos):
            yield Hit(f"HCPCS {line.code} is not in effect on {line.dos}.", f"{line.path}.productOrService",
                      f.claim_key)  # fmt: skip


@register(
    "coding.hcpcs-unknown", category=CO, severity=WARN, carc=("181",),
    summary="A HCPCS Level II code appears in the loaded HCPCS table (only when a table is loaded).",
    fix="Check the code against the current HCPCS release.",
)  # fmt: skip
def check_hcpcs_known(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    table = f.refdata.hcpcs
    if not table:
        return
    for line in f.lines:
        if line.code[:1] in _LEVEL2_FIRST and HCPCS_LEVEL2.match(line.code) and line.code not in table:
            yield Hit(f"HCPCS {line.code} is not in the HCPCS table.", f"{line.path}.productOrService",
                      f.claim_key)  # fmt: skip


@register(
    "coding.em-pos-mismatch", category=CO, severity=ERR, carc=("5", "58"),
    summary="Office E/M (99202-99215) not at an inpatient/ER POS; hospital E/M (99221-99239) only at a facility.",
    fix="Bill the E/M family that matches where the patient was seen.",
    params={"office_em_forbidden_pos": ["21", "23", "51", "61"],
            "hospital_em_pos": ["19", "21", "22", "23", "51", "61"]},
)  # fmt: skip
def check_em_pos(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.em_lines:  # office and hospital E/M codes are E/M codes
        if line.pos is None:
            continue
        if line.code in OFFICE_EM and line.pos in p["office_em_forbidden_pos"]:
            yield Hit(f"Office E/M {line.code} billed at POS {line.pos}.", f"{line.path}.productOrService",
                      f.claim_key)  # fmt: skip
        elif line.code in HOSPITAL_EM and line.pos not in p["hospital_em_pos"]:
            yield Hit(f"Hospital E/M {line.code} billed at POS {line.pos}.", f"{line.path}.productOrService",
                      f.claim_key)  # fmt: skip


@register(
    "coding.age-conflict", category=CO, severity=ERR, carc=("6", "9"),
    summary="Diagnoses and procedures fit the patient's age on the DOS (configurable age-edit table).",
    fix="Check the code (e.g. preventive visit age band, pediatric/maternity diagnosis) or the birth date.",
)  # fmt: skip
def check_age(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.birth_date is None or f.dos is None:
        return
    if not f.refdata.age_edits:
        return
    age, memo = age_on(f.birth_date, f.dos), _answers(f.refdata)[0]
    for kind, code, where, raw in _coded(f):
        known = memo[kind]
        limit = known.get(code, _MISSING)
        if limit is _MISSING:
            limit = known[code] = f.refdata.age_limit(kind, code)
        if limit and not limit.min_age <= age <= limit.max_age:
            yield Hit(f"{raw} is for ages {limit.min_age}-{limit.max_age}; the patient is {age}.",
                      _path(kind, where), f.claim_key)  # fmt: skip


@register(
    "coding.sex-conflict", category=CO, severity=ERR, carc=("7", "10"),
    summary="Sex-specific diagnoses and procedures match the patient's sex (KX modifier overrides).",
    fix="Check the code or the patient's sex; add KX where the payer allows it.",
)  # fmt: skip
def check_sex(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    sex = (f.patient or {}).get("gender")
    if not f.refdata.sex_edits or sex not in ("male", "female"):
        return
    for line in f.modified_lines:
        if "KX" in line.modifiers:
            return
    memo = _answers(f.refdata)[1]
    for kind, code, where, raw in _coded(f):
        known = memo[kind]
        wanted = known.get(code, _MISSING)
        if wanted is _MISSING:
            wanted = known[code] = f.refdata.sex_for(kind, code)
        if wanted and wanted != sex:
            yield Hit(f"{raw} is a {wanted}-only code; the patient is {sex}.", _path(kind, where), f.claim_key)


def _answers(refdata: RefData) -> tuple[_Answers, _Answers]:
    """``refdata.age_limit`` and ``refdata.sex_for`` answers by kind then code, for the last RefData
    seen: the rules read them with one str-keyed dict hit per code instead of a method call."""
    state = _LAST[0]
    if state[0] is not refdata:
        state = (refdata, {"dx": {}, "px": {}}, {"dx": {}, "px": {}})
        _LAST[0] = state  # one tuple swapped whole: a concurrent reader sees old or new, never a mix
    for memo in state[1:]:
        if len(memo["dx"]) + len(memo["px"]) > _MEMO_LIMIT:
            memo["dx"].clear()
            memo["px"].clear()
    return state[1], state[2]


def _coded(f: ClaimFacts) -> list[tuple[str, str, str, str]]:
    """(dx|px, code, element path, code as written) for every diagnosis and line (built once)."""
    coded: list[tuple[str, str, str, str]] | None = f.memo.get("coded")
    if coded is None:
        coded = [("dx", d.code, d.path, d.raw) for d in f.dx] + [("px", ln.code, ln.path, ln.code) for ln in f.lines]
        f.memo["coded"] = coded
    return coded


@lru_cache(maxsize=8192)
def _well_formed(code: str) -> bool:
    return PROCEDURE_CODE.match(code) is not None


def _path(kind: str, where: str) -> str:
    return where if kind == "dx" else f"{where}.productOrService"
