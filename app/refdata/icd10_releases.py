"""ICD-10-CM releases by federal fiscal year: which release is in force on a date of service.

CMS publishes ICD-10-CM once a year, in force for dates of service from October 1 (the start of
federal fiscal year FY N+1 is October 1 of year N) to September 30, with an occasional April 1
update inside the same fiscal year. A diagnosis is valid for a claim when it is valid in the release
in force on the claim's date of service: a code added in FY2027 is not billable for a September
2026 visit, a code deleted in FY2027 is not billable for an October 2026 one.

``simple-icd-10-cm`` ships one release per package version (1.5.0: the FY2026 release with its
April 1 2026 update), held as module-global state. claimbridge therefore keeps each release as its
own compact flag table (:mod:`app.refdata.icd10`): the packaged one (cached on first use), plus any
number of operator-supplied ones in a reference-data directory, named ``icd10cm-fy<YEAR>.tsv`` and
built once from the CMS files with ``claimbridge refdata icd10-release`` (:func:`build_release`, which
loads the CMS code list and tabular XML through ``simple_icd_10_cm.change_version``).
:meth:`app.refdata.tables.RefData.icd10_for` picks the table for a date; when no release of that
fiscal year is loaded it falls back to the newest earlier one and the rule
``coding.icd10-release-missing`` says so on the claim.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from datetime import date
from importlib import metadata
from pathlib import Path

from app.refdata.icd10 import PACKAGE, Icd10Table, _letters_for, read_table

RELEASE_FILE = re.compile(r"^icd10cm-fy(?P<year>\d{4})\.tsv$")
_MONTHS = {m: n for n, m in enumerate(
    ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"), start=1)}  # fmt: skip


def fiscal_year(day: date) -> int:
    """The federal fiscal year of a date: October 1 2026 is in FY2027."""
    return day.year + 1 if day.month >= 10 else day.year


def fiscal_year_of_label(label: str) -> int | None:
    """The fiscal year of a release label such as ``April-2026`` (FY2026) or ``October-2026`` (FY2027)."""
    match = re.search(r"([A-Z][a-z]+)[-_ ](\d{4})", label)
    if not match or match[1] not in _MONTHS:
        return None
    return fiscal_year(date(int(match[2]), _MONTHS[match[1]], 1))


def with_fiscal_year(table: Icd10Table) -> Icd10Table:
    """The packaged table with its fiscal year read from its release label."""
    if table.fiscal_year is not None:
        return table
    return Icd10Table(table.flags, table.version, fiscal_year_of_label(table.version))


def read_releases(directories: Sequence[Path]) -> tuple[Icd10Table, ...]:
    """Every ``icd10cm-fy<YEAR>.tsv`` in the directories, oldest first (a later directory wins a year)."""
    found: dict[int, Icd10Table] = {}
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            match = RELEASE_FILE.match(path.name)
            if match:
                table = read_table(path)
                found[int(match["year"])] = Icd10Table(table.flags, table.version, int(match["year"]))
    return tuple(found[y] for y in sorted(found))


def table_for(releases: Sequence[Icd10Table], dos: date | None) -> tuple[Icd10Table | None, bool]:
    """The table to check a date of service against, and whether it is the release in force then.

    ``releases`` oldest first. Without a date, the newest release (not "in force" for anything).
    """
    if not releases:
        return None, False
    if dos is None:
        return releases[-1], False
    year = fiscal_year(dos)
    earlier = [t for t in releases if t.fiscal_year is not None and t.fiscal_year <= year]
    if earlier:
        return earlier[-1], earlier[-1].fiscal_year == year
    return releases[0], False


def build_release(codes_file: Path, tabular_file: Path, *, year: int, out_dir: Path) -> Path:
    """Write ``icd10cm-fy<year>.tsv`` from a CMS code list and tabular XML; returns its path.

    The files are the ones CMS publishes for the release (``icd10cm-codes-<year>.txt`` style order
    file turned into the code list ``simple-icd-10-cm`` reads, and ``icd10cm-tabular-<year>.xml``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm  # lazy: 2 s / 200 MB

    cm.change_version(all_codes_file_path=str(codes_file), classification_data_file_path=str(tabular_file))
    try:
        rows = [f"# {PACKAGE} {metadata.version(PACKAGE)} FY{year} from {tabular_file.name}\n"]
        for code in cm.get_all_codes(with_dots=False):
            if cm.is_category_or_subcategory(code):
                rows.append(f"{code}\t{_letters_for(cm, code)}\n")
    finally:
        cm.change_version()  # back to the packaged release for anything else in this process
    if len(rows) == 1:  # never an empty table: every diagnosis would then be "not a valid code"
        raise ValueError(f"no ICD-10-CM codes read from {tabular_file.name} and {codes_file.name}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"icd10cm-fy{year}.tsv"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text("".join(rows), encoding="utf-8")
    tmp.replace(path)
    return path
