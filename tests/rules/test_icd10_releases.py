"""ICD-10-CM per fiscal year: each date of service is checked against the release in force then.

The FY2027 release here is a SYNTHETIC flag table (a handful of codes, one invented), written the
way ``claimbridge refdata icd10-release`` writes a CMS release: it is not CMS data.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.refdata import RefData, load_refdata
from app.refdata.icd10 import BILLABLE
from app.refdata.icd10_releases import fiscal_year, fiscal_year_of_label
from tests.rules.cases_coding import _dates, _dx
from tests.rules.factories import CONFIG, VARIANTS, scenario

NEW_IN_FY2027 = "E11AZ9"  # invented: stands for a code CMS adds on October 1 2026


@pytest.fixture(scope="module")
def with_fy2027(tmp_path_factory: pytest.TempPathFactory, icd_cache: Path) -> RefData:
    folder = tmp_path_factory.mktemp("fy2027")
    rows = ["# SYNTHETIC FY2027 test release", "E11\t", "E119\tB", "E1165\tB", "E11AZ\t", f"{NEW_IN_FY2027}\tB"]
    (folder / "icd10cm-fy2027.tsv").write_text("\n".join(rows) + "\n")  # I10 left out: "deleted" in FY2027
    return load_refdata([CONFIG / "refdata", folder], cache_dir=icd_cache)


def test_the_fiscal_year_starts_on_october_1() -> None:
    assert (fiscal_year(date(2026, 9, 30)), fiscal_year(date(2026, 10, 1))) == (2026, 2027)
    assert fiscal_year_of_label("April-2026") == 2026 and fiscal_year_of_label("October-2026") == 2027


def test_the_release_in_force_is_picked_by_date_of_service(with_fy2027: RefData, refdata: RefData) -> None:
    september, october = date(2026, 9, 30), date(2026, 10, 1)
    packaged = with_fy2027.icd10_for(september)
    assert packaged is not None and packaged.fiscal_year == 2026 and packaged.lookup("I10") & BILLABLE
    fy2027 = with_fy2027.icd10_for(october)
    assert fy2027 is not None and fy2027.fiscal_year == 2027
    assert fy2027.lookup("I10") == 0 and fy2027.lookup(NEW_IN_FY2027) & BILLABLE
    assert with_fy2027.icd10_in_force(october) and with_fy2027.icd10_in_force(september)
    assert not refdata.icd10_in_force(october)  # only the packaged FY2026 release
    assert refdata.icd10_for(october) is refdata.icd10_for(september)  # falls back to the newest earlier one


@pytest.mark.parametrize(
    ("day", "code", "invalid"),
    [
        ("2026-09-30", "I10", False),
        ("2026-10-01", "I10", True),  # not in the FY2027 release
        ("2026-09-30", NEW_IN_FY2027, True),  # not yet a code in FY2026
        ("2026-10-01", NEW_IN_FY2027, False),
    ],
)
def test_a_diagnosis_is_valid_only_in_the_releases_that_have_it(
    with_fy2027: RefData, day: str, code: str, invalid: bool
) -> None:
    sc = scenario(VARIANTS[0], with_fy2027)
    _dates(day)(sc)
    _dx(code)(sc)
    rules = sc.rule_ids()
    assert ("coding.icd10-invalid" in rules) is invalid
    assert "coding.icd10-release-missing" not in rules  # both fiscal years are loaded


TABULAR = """<?xml version="1.0" encoding="utf-8"?>
<ICD10CM.tabular><version>SYNTHETIC</version>
<introduction><introSection type="title"><title>SYNTHETIC TEST LIST</title></introSection></introduction>
<chapter><name>1</name><desc>Test chapter (A00-A09)</desc><section id="A00-A09"><desc>Test block (A00-A09)</desc>
<diag><name>A00</name><desc>Test category</desc>
<diag><name>A00.0</name><desc>Test code one</desc></diag><diag><name>A00.9</name><desc>Test code two</desc></diag>
</diag></section></chapter></ICD10CM.tabular>
"""


def test_a_release_is_built_from_the_cms_shaped_files_and_read_back(tmp_path: Path) -> None:
    from app.refdata.icd10_releases import build_release, read_releases

    (tmp_path / "tabular.xml").write_text(TABULAR)
    (tmp_path / "codes.txt").write_text("1\nA00-A09\nA00\nA000\nA009\n")
    written = build_release(tmp_path / "codes.txt", tmp_path / "tabular.xml", year=2027, out_dir=tmp_path / "out")
    assert written.name == "icd10cm-fy2027.tsv"
    (table,) = read_releases([tmp_path / "out"])
    assert table.fiscal_year == 2027
    assert table.lookup("A000") & BILLABLE and table.lookup("A009") & BILLABLE
    assert not table.lookup("A00") & BILLABLE  # a category with codes under it is not billable


def test_files_that_yield_no_code_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    from app.refdata.icd10_releases import build_release

    chapter = TABULAR[TABULAR.index("<chapter>") : TABULAR.index("</chapter>") + len("</chapter>")]
    (tmp_path / "tabular.xml").write_text(TABULAR.replace(chapter, ""))  # a tabular list with no chapter
    (tmp_path / "codes.txt").write_text("1\n")
    with pytest.raises(ValueError, match="no ICD-10-CM codes"):
        build_release(tmp_path / "codes.txt", tmp_path / "tabular.xml", year=2027, out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "icd10cm-fy2027.tsv").exists()
