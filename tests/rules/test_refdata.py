"""Reference data: CMS-format importers, the normalized loader, date-aware lookups, the ICD cache."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.refdata import import_global_days, import_hcpcs, import_mue, import_ptp, load_refdata
from app.refdata.icd10 import BILLABLE, EXTERNAL_CAUSE, MANIFESTATION, cache_path, load_icd10
from app.refdata.importers import parse_cms_date
from app.refdata.pos import POS_CODES
from tests.rules.factories import CONFIG, ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "refdata"


@pytest.mark.parametrize("name", ["ptp_practitioner.txt", "ptp_practitioner.csv"])
def test_import_ptp_skips_preamble_and_normalizes(name: str, tmp_path: Path) -> None:
    out = import_ptp(FIXTURES / name, tmp_path)
    assert out.name == f"ptp-{Path(name).stem}.csv"
    data = load_refdata([tmp_path], with_icd10=False)
    if name.endswith(".txt"):
        assert data.ptp_edit("80053", "80048", date(2026, 1, 1)).modifier == 0  # type: ignore[union-attr]
        assert data.ptp_edit("20610", "96372", date(2026, 1, 1)).modifier == 1  # type: ignore[union-attr]
        # deleted on 2024-01-01: applies the day before, not on the deletion date
        assert data.ptp_edit("85025", "85027", date(2023, 12, 31)) is not None
        assert data.ptp_edit("85025", "85027", date(2024, 1, 1)) is None
        assert data.ptp_edit("80048", "80053", date(2026, 1, 1)) is None  # direction matters
    else:
        assert data.ptp_edit("71046", "71045", date(2020, 1, 1)) is not None
        assert data.ptp_edit("71046", "71045", date(2019, 12, 31)) is None
        assert data.ptp_edit("36415", "36416", date(2026, 1, 1)) is not None


def test_import_mue_reads_adjudication_indicator(tmp_path: Path) -> None:
    import_mue(FIXTURES / "mue_practitioner.csv", tmp_path, effective=date(2026, 1, 1))
    data = load_refdata([tmp_path], with_icd10=False)
    entry = data.mue_for("36415", date(2026, 2, 1))
    assert entry is not None and (entry.value, entry.mai) == (1, 2)
    assert data.mue_for("20610", date(2026, 2, 1)).mai == 1  # type: ignore[union-attr]
    assert data.mue_for("36415", date(2025, 12, 31)) is None  # before the quarter it was loaded for


def test_newest_mue_wins_by_date(tmp_path: Path) -> None:
    (tmp_path / "mue-a.csv").write_text("code,value,mai,effective,end\n36415,1,2,2025-01-01,\n")
    (tmp_path / "mue-b.csv").write_text("code,value,mai,effective,end\n36415,3,2,2026-01-01,\n")
    data = load_refdata([tmp_path], with_icd10=False)
    assert data.mue_for("36415", date(2025, 6, 1)).value == 1  # type: ignore[union-attr]
    assert data.mue_for("36415", date(2026, 6, 1)).value == 3  # type: ignore[union-attr]


def test_import_hcpcs_keeps_codes_modifiers_and_dates(tmp_path: Path) -> None:
    import_hcpcs(FIXTURES / "hcpcs_anweb.csv", tmp_path)
    data = load_refdata([tmp_path], with_icd10=False)
    assert set(data.hcpcs) == {"J1030", "G2211", "Q9999", "XS"}
    assert data.hcpcs["XS"].kind == "modifier"
    assert data.hcpcs["Q9999"].active_on(date(2022, 12, 31))
    assert not data.hcpcs["Q9999"].active_on(date(2023, 1, 1))
    assert not data.hcpcs["G2211"].active_on(date(2023, 12, 31))


def test_import_global_days_from_pfs_file(tmp_path: Path) -> None:
    import_global_days(FIXTURES / "pfs_rvu.csv", tmp_path)
    data = load_refdata([tmp_path], with_icd10=False)
    assert data.global_days == {"20610": "000", "71046": "XXX", "10060": "010"}


@pytest.mark.parametrize(
    ("importer", "text", "problem"),
    [
        (import_ptp, "80053\t80048\t\t2020XX01\t*\t0\tx\n", "bad PTP row"),
        (import_ptp, "80053\t80048\t\t20200101\t*\t7\tx\n", "modifier 0/1/9"),
        (import_ptp, "no data here\n", "no PTP data rows"),
        (import_mue, "36415,1,Date of Service,x\n", "adjudication indicator"),
        (import_hcpcs, "code,when\nJ1030,2020\n", "no header row"),
        (import_global_days, "HCPCS,MOD,GLOB DAYS\n20610,,045\n", "bad global days"),
    ],
)
def test_importer_errors_name_the_file_and_line(importer, text: str, problem: str, tmp_path: Path) -> None:
    src = tmp_path / "input.txt"
    src.write_text("preamble line\n" + text)
    with pytest.raises(ConfigError) as err:
        importer(src, tmp_path / "out")
    assert problem in str(err.value)
    assert str(src) in str(err.value)


def test_loader_reports_file_and_line_of_a_bad_row(tmp_path: Path) -> None:
    bad = tmp_path / "ptp-x.csv"
    bad.write_text("# comment\ncolumn1,column2,effective,deletion,modifier\n80053,80048,2020-01-01,,0\n"
                   "80053,80049,2020-13-01,,0\n")  # fmt: skip
    with pytest.raises(ConfigError) as err:
        load_refdata([tmp_path], with_icd10=False)
    assert err.value.line == 4 and err.value.path == str(bad)


def test_shipped_synthetic_tables_are_marked_and_load(refdata) -> None:  # type: ignore[no-untyped-def]
    for path in (CONFIG / "refdata").glob("*.csv"):
        assert path.read_text().startswith("# SYNTHETIC"), path
    assert refdata.ptp and refdata.mue and refdata.hcpcs and refdata.global_days
    assert refdata.age_limit("px", "99396").min_age == 40
    assert refdata.sex_for("dx", "O800") == "female"  # longest-prefix match ("O")
    assert refdata.sex_for("dx", "E119") is None


def test_icd_flags(refdata) -> None:  # type: ignore[no-untyped-def]
    table = refdata.icd10
    assert table.lookup("E11.9") & BILLABLE
    assert table.lookup("E119") == table.lookup("e11.9")
    assert table.lookup("M54.5") and not table.lookup("M54.5") & BILLABLE
    assert table.lookup("G63") & MANIFESTATION and not table.lookup("E11.42") & MANIFESTATION
    assert table.lookup("W19.XXXA") & EXTERNAL_CAUSE
    assert table.lookup("Z99.99") == 0
    assert "April-2026" in table.version or table.version


def test_icd_cache_is_reused_without_importing_the_package(icd_cache: Path, refdata) -> None:  # type: ignore[no-untyped-def]
    path = cache_path(icd_cache)
    stamp = path.stat().st_mtime_ns
    assert load_icd10(icd_cache).flags == refdata.icd10.flags
    assert path.stat().st_mtime_ns == stamp  # not rebuilt
    code = (
        "import sys; from pathlib import Path; from app.refdata.icd10 import load_icd10;"
        f"t = load_icd10(Path({str(icd_cache)!r}));"
        "assert 'simple_icd_10_cm' not in sys.modules; print(len(t.flags))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 90_000


def test_parse_cms_date_formats() -> None:
    assert parse_cms_date("20240101") == date(2024, 1, 1)
    assert parse_cms_date("1/2/2024") == date(2024, 1, 2)
    assert parse_cms_date("2024-01-02") == date(2024, 1, 2)
    assert parse_cms_date("*") is None and parse_cms_date("") is None
    with pytest.raises(ValueError, match="not a date"):
        parse_cms_date("Jan 2024")


def test_pos_code_set_matches_pyx12_external_codes() -> None:
    from pyx12.codes import ExternalCodes

    codes = ExternalCodes()
    pyx12_pos = {f"{n:02d}" for n in range(1, 100) if codes.isValid("pos", f"{n:02d}")}
    assert pyx12_pos == POS_CODES
