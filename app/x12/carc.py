"""CARC → finding category: claimbridge's own editorial mapping (billing-domain.md §3).

Codes only, never X12's description texts (CARC text is X12-licensed). The table is checked at
import: a code listed under two categories stops start-up. Cost-share (PR 1/2/3) and contractual
codes (45, 253, 42, A2) are not denials and map to ``None``, as does any code not listed.
"""

from __future__ import annotations

from app.domain.findings import Category

GROUP_CODES = frozenset({"CO", "PR", "OA", "PI", "CR"})  # CR: 4010 only, read leniently
NOT_A_DENIAL = frozenset({"1", "2", "3", "45", "253", "42", "A2"})

_TABLE: dict[Category, tuple[str, ...]] = {
    Category.MISSING_DATA: (
        "16", "206", "207", "208", "13", "14", "125", "A1",  # missing / invalid information
        "170", "183", "185", "B7",  # credentialing / provider eligibility (DATA-02/03)
    ),
    Category.ELIGIBILITY: (
        "26", "27", "31", "32", "33", "109", "140", "177", "B9", "B11", "24",  # coverage
        "22", "23", "19", "20", "21",  # coordination of benefits
        "119",  # benefit maximum
    ),
    Category.PRIOR_AUTH: ("197", "15", "39", "62", "198", "243", "242"),
    Category.CODING: (
        "4", "5", "6", "7", "8", "9", "10", "11", "12", "146", "181", "182", "189", "58", "B16",  # coding/modifier
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
