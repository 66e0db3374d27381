"""Coding: the diagnosis list (ICD-10-CM validity and billability, sequencing, pointers)."""

from __future__ import annotations

from collections.abc import Iterator

from app.domain.findings import Category, Severity
from app.refdata.icd10 import BILLABLE, EXTERNAL_CAUSE, MANIFESTATION, Icd10Table
from app.refdata.icd10_releases import fiscal_year
from app.rules.codes import ICD10CM
from app.rules.facts import ClaimFacts
from app.rules.registry import Hit, Params, register

CO = Category.CODING
ERR, WARN = Severity.ERROR, Severity.WARNING
MAX_DX = 12  # 837P HI segment limit
MAX_POINTERS = 4


def icd10_table(f: ClaimFacts) -> Icd10Table | None:
    """``refdata.icd10_for(f.dos)``, looked up once per claim."""
    memo = f.memo
    if "icd10" not in memo:
        memo["icd10"] = f.refdata.icd10_for(f.dos)
    table: Icd10Table | None = memo["icd10"]
    return table


@register(
    "coding.diagnosis-missing", category=CO, severity=ERR, carc=("16",),
    summary="The claim has at least one diagnosis.",
    fix="Add the encounter's diagnoses (Condition) to the claim.",
)  # fmt: skip
def check_dx_present(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if not f.dx:
        yield Hit("Claim has no diagnosis.", "Claim.diagnosis", f.claim_key)


@register(
    "coding.icd10-invalid", category=CO, severity=ERR, carc=("16", "146"),
    summary="Each diagnosis is an ICD-10-CM code of the release in force on the date of service.",
    fix="Pick a current ICD-10-CM code for the condition.",
)  # fmt: skip
def check_icd_exists(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    table = icd10_table(f)
    for dx in f.dx:
        if dx.system and dx.system != ICD10CM:
            yield Hit(f"Diagnosis {dx.raw} is not coded in ICD-10-CM.", dx.path, dx.source or f.claim_key)
        elif table is not None and not table.lookup(dx.code):
            yield Hit(f"{dx.raw or 'Empty code'} is not an ICD-10-CM code.", dx.path, dx.source or f.claim_key)


@register(
    "coding.icd10-release-missing", category=CO, severity=WARN, carc=("146",),
    summary="The ICD-10-CM release in force on the date of service (fiscal year from October 1) is loaded.",
    fix="Load that fiscal year's CMS ICD-10-CM files: claimbridge refdata icd10-release (docs/rules.md).",
)  # fmt: skip
def check_icd_release(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    refdata = f.refdata
    if f.dos is None or not f.dx or (refdata.icd10 is None and not refdata.icd10_releases):
        return
    if not refdata.icd10_in_force(f.dos):
        used = icd10_table(f)
        yield Hit(
            f"No ICD-10-CM release for FY{fiscal_year(f.dos)} (date of service {f.dos.isoformat()}) is loaded; "
            f"diagnoses were checked against {used.version if used else 'none'}.",
            "Claim.diagnosis",
            f.claim_key,
        )


@register(
    "coding.icd10-not-billable", category=CO, severity=ERR, carc=("16", "146"),
    summary="Each ICD-10-CM code is billable (a leaf: full specificity, 7th character where required).",
    fix="Code to the highest specificity (a billable leaf code).",
)  # fmt: skip
def check_icd_billable(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    table = icd10_table(f)
    if table is None:
        return
    for dx in f.dx:
        flags = table.lookup(dx.code)
        if flags and not flags & BILLABLE:
            yield Hit(f"{dx.raw} is a category, not a billable code.", dx.path, dx.source or f.claim_key)


@register(
    "coding.principal-dx-manifestation", category=CO, severity=ERR, carc=("11", "16"),
    summary="The first-listed diagnosis is not a manifestation ('code first the underlying') code.",
    fix="List the underlying condition first and the manifestation after it.",
)  # fmt: skip
def check_principal_manifestation(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    table = icd10_table(f)
    if table is not None and f.dx and table.lookup(f.dx[0].code) & MANIFESTATION:
        dx = f.dx[0]
        yield Hit(f"{dx.raw} is a manifestation code and cannot be listed first.", dx.path,
                  dx.source or f.claim_key)  # fmt: skip


@register(
    "coding.principal-dx-external-cause", category=CO, severity=ERR, carc=("11", "16"),
    summary="The first-listed diagnosis is not an external-cause code (V00-Y99).",
    fix="List the injury or condition first; external-cause codes are secondary.",
)  # fmt: skip
def check_principal_external(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if not f.dx:
        return
    dx = f.dx[0]
    table = icd10_table(f)
    external = table.lookup(dx.code) & EXTERNAL_CAUSE if table else dx.code[:1] in "VWXY"
    if external and dx.code:
        yield Hit(f"{dx.raw} is an external-cause code and cannot be listed first.", dx.path,
                  dx.source or f.claim_key)  # fmt: skip


@register(
    "coding.dx-duplicate", category=CO, severity=ERR, carc=("16",),
    summary="No diagnosis code is listed twice.",
    fix="Remove the repeated diagnosis and re-point the lines.",
)  # fmt: skip
def check_dx_duplicate(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    seen: set[str] = set()
    for dx in f.dx:
        if dx.code and dx.code in seen:
            yield Hit(f"{dx.raw} is listed more than once.", dx.path, f.claim_key)
        seen.add(dx.code)


@register(
    "coding.dx-too-many", category=CO, severity=ERR, carc=("16",),
    summary=f"At most {MAX_DX} diagnoses (the 837P HI limit).",
    fix=f"Keep the {MAX_DX} diagnoses that support the services; split the claim if needed.",
)  # fmt: skip
def check_dx_count(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if len(f.dx) > MAX_DX:
        yield Hit(f"Claim lists {len(f.dx)} diagnoses; at most {MAX_DX} fit.", "Claim.diagnosis", f.claim_key)


@register(
    "coding.dx-pointer-missing", category=CO, severity=ERR, carc=("16",),
    summary="Every line points at a diagnosis (item.diagnosisSequence).",
    fix="Link the line to the diagnosis that justifies it.",
)  # fmt: skip
def check_pointer_present(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for line in f.lines:
        if not line.dx_pointers:
            yield Hit(f"Line {line.code} points at no diagnosis.", f"{line.path}.diagnosisSequence", f.claim_key)


@register(
    "coding.dx-pointer-invalid", category=CO, severity=ERR, carc=("16",),
    summary="Line diagnosis pointers name existing diagnosis sequences, at most 4 per line.",
    fix="Re-point the line at diagnosis.sequence values that exist (max 4).",
)  # fmt: skip
def check_pointer_range(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    sequences = {dx.sequence for dx in f.dx}
    for line in f.lines:
        pointers = line.dx_pointers
        for ptr in pointers:  # a plain loop: no per-line list unless a pointer is bad
            if ptr not in sequences or ptr.__class__ is bool:
                bad = [p for p in pointers if p not in sequences or p.__class__ is bool]
                yield Hit(f"Line {line.code} points at missing diagnosis {bad}.",
                          f"{line.path}.diagnosisSequence", f.claim_key)  # fmt: skip
                break
        else:
            if len(pointers) > MAX_POINTERS:
                yield Hit(f"Line {line.code} has more than {MAX_POINTERS} diagnosis pointers.",
                          f"{line.path}.diagnosisSequence", f.claim_key)  # fmt: skip


@register(
    "coding.dx-not-pointed", category=CO, severity=WARN, carc=("16",),
    summary="Every listed diagnosis is pointed at by some line.",
    fix="Point a line at the diagnosis, or drop it from the claim.",
)  # fmt: skip
def check_dx_used(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    used = {ptr for line in f.lines for ptr in line.dx_pointers}
    if not f.lines:
        return
    for dx in f.dx:
        if dx.sequence not in used:
            yield Hit(f"Diagnosis {dx.raw} supports no line.", dx.path, f.claim_key)
