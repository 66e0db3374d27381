"""``claimbridge refdata load``: CMS files become tables the rules read; bad files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.refdata import load_refdata

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "refdata"
runner = CliRunner()


@pytest.fixture
def refdata_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLAIMBRIDGE_REFDATA_DIR", str(tmp_path / "refdata"))
    return tmp_path / "refdata"


@pytest.mark.parametrize(
    ("kind", "file", "extra"),
    [
        ("ncci-ptp", "ptp_practitioner.txt", []),
        ("mue", "mue_practitioner.csv", ["--effective", "2026-10-01"]),
        ("hcpcs", "hcpcs_anweb.csv", []),
        ("global-days", "pfs_rvu.csv", []),
    ],
)
def test_load_each_kind_into_refdata_dir(refdata_dir: Path, kind: str, file: str, extra: list[str]) -> None:
    result = runner.invoke(app, ["refdata", "load", kind, str(FIXTURES / file), *extra])
    assert result.exit_code == 0, result.stderr
    assert len(list(refdata_dir.glob("*.csv"))) == 1
    tables = load_refdata([refdata_dir], with_icd10=False)
    loaded = {"ncci-ptp": tables.ptp, "mue": tables.mue, "hcpcs": tables.hcpcs, "global-days": tables.global_days}
    assert loaded[kind]


def test_bad_file_is_refused_with_its_name_and_nothing_written(refdata_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "mue.csv"
    bad.write_text("HCPCS,MUE,MAI\n99213,1,7 Bogus\n")
    result = runner.invoke(app, ["refdata", "load", "mue", str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.stderr
    assert not list(refdata_dir.glob("*.csv"))
    missing = runner.invoke(app, ["refdata", "load", "hcpcs", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr
