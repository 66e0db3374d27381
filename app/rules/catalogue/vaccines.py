"""Coding: vaccine administration codes a payer bills its own way (Medicare G0008 / G0009 / G0010).

The denials this prevents: an administration line without its vaccine product (CARC B15: the
qualifying service is missing) and administration units that do not pair one to one (CARC 16:
a billing error); both codes let denial analytics count such a denial as one a rule flags.
"""

from __future__ import annotations

from collections.abc import Iterator

from app.domain.findings import Category, Severity
from app.domain.vaccine_admin import ADMIN_CODES, is_administration, pair_administrations
from app.rules.facts import ClaimFacts
from app.rules.registry import Hit, Params, register


@register(
    "coding.vaccine-admin-unpaired", category=Category.CODING, severity=Severity.WARNING, carc=("B15", "16"),
    summary="At a payer with its own vaccine administration codes, each administration line (one unit) "
            "pairs with one vaccine product line, so each gets the right code.",
    fix="Bill one administration line (90471, then 90472) per vaccine product line, one unit each; the "
        "payer's codes (Medicare G0008/G0009/G0010) are then set per vaccine.",
)  # fmt: skip
def check_vaccine_admin(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    table = f.profile.vaccine_administration
    if not table:
        return
    for line in f.lines:  # is_administration, inlined
        if line.code in ADMIN_CODES or line.code in table:
            break
    else:
        return  # no administration line: nothing to pair (what pair_administrations would answer)
    pairing = pair_administrations([(line.code, line.units) for line in f.lines], table)
    if pairing.problem is not None:
        first = next(line for line in f.lines if is_administration(line.code, table))
        yield Hit(f"Vaccine administration not recoded for {f.profile.name}: {pairing.problem}.",
                  f"{first.path}.productOrService", f.claim_key)  # fmt: skip
