"""Missing data for laboratory services: the CLIA certificate number (837P ``REF*X4``)."""

from __future__ import annotations

from collections.abc import Iterator

from app.domain.findings import Category, Severity
from app.rules.facts import ClaimFacts
from app.rules.registry import Hit, Params, register
from app.rules.values import identifier_values

CLIA_SYSTEM = "urn:oid:2.16.840.1.113883.4.7"
CLAIM_INFO = "urn:claimbridge:claim-info"


def is_clia_lab(code: str) -> bool:
    """A CLIA-covered laboratory test: CPT 80047-89398 (pathology and laboratory); inlined in
    :func:`check_clia_number`."""
    return len(code) == 5 and code.isdigit() and "80047" <= code <= "89398"


def clia_on_claim(f: ClaimFacts) -> bool:
    for info in f.claim.get("supportingInfo") or ():
        codings = (info.get("code") or {}).get("coding") or () if isinstance(info, dict) else ()
        if any(c.get("system") == CLAIM_INFO and c.get("code") == "clia-number" for c in codings):
            return bool(str(info.get("valueString") or "").strip())
    billing = f.billing.resource
    return bool(billing and identifier_values(billing, CLIA_SYSTEM))


@register(
    "missing-data.clia-number-missing", category=Category.MISSING_DATA, severity=Severity.ERROR, carc=("16",),
    summary="A claim with CLIA-covered lab tests (CPT 80047-89398) carries the lab's CLIA number (REF*X4).",
    fix="Add the lab's CLIA number to config/providers.yaml (clia_number) for the billing NPI, or as the "
        "billing Organization's identifier (system urn:oid:2.16.840.1.113883.4.7).",
)  # fmt: skip
def check_clia_number(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    labs = [ln for ln in f.lines if "80047" <= ln.code <= "89398" and len(ln.code) == 5 and ln.code.isdigit()]
    if labs and not clia_on_claim(f):
        codes = ", ".join(dict.fromkeys(line.code for line in labs))
        yield Hit(f"Lab test(s) {codes} need the lab's CLIA number (Medicare: CO-16 / MA120).",
                  f"{labs[0].path}.productOrService", f.claim_key)  # fmt: skip
