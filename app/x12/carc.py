"""CARC → finding category: claimbridge's own editorial mapping (billing-domain.md §3).

Codes only, never X12's description texts (CARC text is X12-licensed). The table is checked at
import: a code listed under two categories stops start-up. Cost-share (PR 1/2/3) and contractual
codes (45, 253, 42, A2), capitation (24: paid under the capitation agreement) and the prior
payer's adjudication (23: a secondary's reduction by what the primary paid or allowed) are not
denials and map to ``None``, as does any code not listed.

:data:`RARC_REFINES` lets a remark code refine the category of a generic CARC (16, A1, 125, 252,
...): CO-16 with N56 is a coding denial, with MA04 a coordination-of-benefits (eligibility) one.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.domain.findings import Category

GROUP_CODES = frozenset({"CO", "PR", "OA", "PI", "CR"})  # CR: 4010 only, read leniently
COST_SHARE = frozenset({"1", "2", "3", "66"})  # deductible, coinsurance, copay, blood deductible
CONTRACTUAL = frozenset({"45", "253", "42", "A2", "24"})  # fee schedule, sequestration, retired, capitation
PRIOR_PAYER = frozenset({"23"})  # the prior payer's adjudication (COB): not this payer's denial
NOT_A_DENIAL = COST_SHARE | CONTRACTUAL | PRIOR_PAYER

_TABLE: dict[Category, tuple[str, ...]] = {
    Category.MISSING_DATA: (
        "16", "206", "207", "208", "13", "14", "125", "A1",  # missing / invalid information
        "170", "183", "185", "B7",  # credentialing / provider eligibility (DATA-02/03)
    ),
    Category.ELIGIBILITY: (
        "26", "27", "31", "32", "33", "109", "140", "177", "B9", "B11",  # coverage
        "22", "19", "20", "21",  # coordination of benefits
        "119",  # benefit maximum
    ),
    Category.PRIOR_AUTH: ("197", "15", "39", "62", "198", "243", "242"),
    Category.CODING: (
        "4", "5", "6", "7", "8", "9", "10", "11", "12", "146", "181", "182", "189", "58", "B16",  # coding/modifier
        "150",  # the information submitted does not support this level of service
        "97", "234", "236", "59", "151",  # bundling / NCCI / units
        "50", "55", "56", "167", "96", "204", "49", "272",  # medical necessity / non-covered
    ),
    Category.DUPLICATE: ("18",),
    Category.DOCUMENTATION: ("226", "227", "251", "252"),
    Category.TIMELY_FILING: ("29",),
}  # fmt: skip


def _index(table: dict[Category, tuple[str, ...]]) -> dict[str, Category]:
    index: dict[str, Category] = {}
    for category, codes in table.items():
        for code in codes:
            if code in index or code in NOT_A_DENIAL:
                raise RuntimeError(f"CARC {code} is mapped twice ({index.get(code)} and {category})")
            index[code] = category
    return index


_BY_CODE = _index(_TABLE)

#: CARCs that only say "see the remark code": their category comes from a RARC when one is listed.
GENERIC_CARCS = frozenset({"16", "A1", "125", "252", "251", "226", "96", "B7"})
#: RARC → category (our editorial mapping, codes only). First listed RARC of a denial that is here wins.
RARC_REFINES: dict[str, Category] = {
    "N56": Category.CODING,  # procedure inconsistent with diagnosis
    "M80": Category.CODING,  # not covered when performed with another procedure (bundling)
    "N20": Category.CODING,  # not paid separately
    "N290": Category.MISSING_DATA,  # rendering provider identifier
    "N286": Category.MISSING_DATA,  # referring provider identifier
    "MA130": Category.MISSING_DATA,  # unprocessable: fix and resubmit as new
    "MA04": Category.ELIGIBILITY,  # primary payer information needed (COB)
    "N30": Category.ELIGIBILITY,  # patient ineligible
    "N54": Category.PRIOR_AUTH,  # authorisation / referral number missing
    "M127": Category.DOCUMENTATION,  # medical record missing
    "N115": Category.CODING,  # LCD-based decision (medical necessity)
    "N386": Category.CODING,  # NCD-based decision (medical necessity)
}


def category_for_carc(group: str, code: str) -> Category | None:
    """The finding category a CARC (with its group code) points at, or ``None`` for non-denials.

    ``None`` also for an unknown group code or an unlisted CARC. The result is a
    :class:`~app.domain.findings.Category` (a ``str``), e.g. ``category_for_carc("CO", "29")`` is
    ``"timely-filing"``.
    """
    group, code = group.strip().upper(), code.strip().upper()
    if group not in GROUP_CODES or code in NOT_A_DENIAL:
        return None
    return _BY_CODE.get(code)


def refine_with_rarcs(category: Category | None, code: str, remarks: Iterable[str]) -> Category | None:
    """The category of a denial with CARC ``code`` once its remark codes are known.

    A generic CARC (:data:`GENERIC_CARCS`) takes the category of its first remark code listed in
    :data:`RARC_REFINES`; any other CARC keeps ``category``, and an unlisted remark changes nothing.
    """
    if code.strip().upper() not in GENERIC_CARCS:
        return category
    for remark in remarks:
        refined = RARC_REFINES.get(remark.strip().upper())
        if refined is not None:
            return refined
    return category
