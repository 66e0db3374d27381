"""CARC → finding category table (our editorial mapping; codes only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.findings import Category
from app.x12 import carc, category_for_carc, read_835


@pytest.mark.parametrize(
    ("group", "code", "expected"),
    [
        ("CO", "29", Category.TIMELY_FILING),
        ("CO", "197", Category.PRIOR_AUTH),
        ("OA", "18", Category.DUPLICATE),
        ("CO", "27", Category.ELIGIBILITY),
        ("CO", "97", Category.CODING),
        ("CO", "16", Category.MISSING_DATA),
        ("CO", "251", Category.DOCUMENTATION),
        ("PI", "11", Category.CODING),
        (" co ", " b16 ", Category.CODING),
        ("PR", "1", None),
        ("PR", "2", None),
        ("CO", "45", None),
        ("CO", "253", None),
        ("CO", "A2", None),
        ("XX", "29", None),
        ("CO", "99999", None),
    ],
)
def test_category_for_carc(group: str, code: str, expected: Category | None) -> None:
    assert category_for_carc(group, code) == expected


def test_table_fails_loudly_on_a_code_mapped_twice() -> None:
    with pytest.raises(RuntimeError, match="CARC 29"):
        carc._index({Category.TIMELY_FILING: ("29",), Category.CODING: ("29",)})


def test_categories_are_taxonomy_values() -> None:
    assert {c.value for c in carc._BY_CODE.values()} <= {c.value for c in Category}


def test_emedny_denials_categorise_as_timely_filing_and_documentation() -> None:
    path = next((Path(__file__).parent.parent / "fixtures" / "x12").rglob("835_emedny_sample.txt"))
    found = {
        category_for_carc(adj.group, adj.reason)
        for claim in read_835(path.read_text()).claims
        for line in claim.lines
        for adj in line.adjustments
    }
    assert found == {Category.TIMELY_FILING, Category.DOCUMENTATION}
