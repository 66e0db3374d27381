"""Importers for the public CMS files an operator downloads (never shipped in the repository).

Each ``import_<kind>(src, dest_dir)`` reads one CMS file (tab-separated text or CSV, with or without
the copyright/preamble rows CMS puts above the data) and writes a compact normalized CSV
``<kind>-<src stem>.csv`` into ``dest_dir`` that :func:`app.refdata.load_refdata` reads. Only codes,
numbers and dates are kept: no descriptions (CPT descriptors are AMA-licensed).

- NCCI PTP practitioner file: Column 1, Column 2, *=in existence prior to 1996, Effective Date,
  Deletion Date (``*`` = none), Modifier 0/1/9, PTP Edit Rationale.
- MUE practitioner table: HCPCS/CPT code, MUE value, MUE adjudication indicator ("2 Date of Service
  Edit: Policy" -> 2), rationale. The table has no dates; pass ``effective`` (the quarter start).
- HCPCS Level II ANWEB, delimited export with a header row naming HCPC, (RECID), ADD DT, ACT EFF DT,
  TERM DT; procedure and modifier records both kept (modifiers are the two-character codes).
- PFS relative value file (PPRRVU), delimited export with a header row naming HCPCS, MOD and
  GLOB DAYS: global surgery days per code (rows with a modifier are skipped).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path

from app.errors import ConfigError

_CODE = re.compile(r"^[0-9A-Z]{4}[0-9A-Z]$")
_DATE_FORMATS = (
    re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"),
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})$"),
)


def parse_cms_date(text: str) -> date | None:
    """``YYYYMMDD``, ``YYYY-MM-DD`` or ``MM/DD/YYYY``; blank or ``*`` means no date."""
    value = text.strip()
    if value in ("", "*", "00000000"):
        return None
    for pattern in _DATE_FORMATS:
        match = pattern.match(value)
        if match:
            return date(int(match["y"]), int(match["m"]), int(match["d"]))
    raise ValueError(f"not a date: {value!r}")


def read_rows(src: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` for every row of a tab-separated or comma-separated file."""
    text = src.read_text(encoding="utf-8-sig", errors="replace")
    sample = "\n".join(text.splitlines()[:50])
    delimiter = "\t" if sample.count("\t") >= sample.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for cells in reader:
        yield reader.line_num, [c.strip() for c in cells]


def _write(dest_dir: Path, name: str, header: list[str], rows: list[list[str]]) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / name
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    out.write_text(buf.getvalue(), encoding="utf-8")
    return out


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def import_ptp(src: Path, dest_dir: Path) -> Path:
    """Normalize an NCCI PTP practitioner file into ``ptp-<stem>.csv``."""
    rows: list[list[str]] = []
    for line, cells in read_rows(src):
        if len(cells) < 6 or not (_CODE.match(cells[0]) and _CODE.match(cells[1])):
            continue  # preamble, header or blank row
        try:
            effective = parse_cms_date(cells[3])
            deletion = parse_cms_date(cells[4])
            modifier = int(cells[5][:1])
        except ValueError as exc:
            raise ConfigError(src, line, None, f"bad PTP row: {exc}") from exc
        if effective is None or modifier not in (0, 1, 9):
            raise ConfigError(src, line, None, "PTP row needs an effective date and modifier 0/1/9")
        rows.append([cells[0], cells[1], _iso(effective), _iso(deletion), str(modifier)])
    return _finish(src, dest_dir, "ptp", ["column1", "column2", "effective", "deletion", "modifier"], rows)


def import_mue(src: Path, dest_dir: Path, *, effective: date | None = None) -> Path:
    """Normalize an MUE practitioner table into ``mue-<stem>.csv`` (``effective`` = quarter start)."""
    rows: list[list[str]] = []
    for line, cells in read_rows(src):
        if len(cells) < 3 or not _CODE.match(cells[0]) or not cells[1].isdigit():
            continue
        mai = cells[2][:1]
        if mai not in ("1", "2", "3"):
            raise ConfigError(src, line, None, f"bad MUE adjudication indicator {cells[2]!r}")
        rows.append([cells[0], str(int(cells[1])), mai, _iso(effective), ""])
    return _finish(src, dest_dir, "mue", ["code", "value", "mai", "effective", "end"], rows)


_HCPCS_COLUMNS = {
    "code": ("HCPC", "HCPCS", "HCPCS CODE", "CODE"),
    "recid": ("RECID", "REC ID"),
    "added": ("ADD DT", "ADD DATE"),
    "effective": ("ACT EFF DT", "ACTION EFFECTIVE DATE", "EFFECTIVE DATE"),
    "terminated": ("TERM DT", "TERMINATION DATE"),
}


def _hcpcs_header(cells: list[str]) -> dict[str, int] | None:
    names = [re.sub(r"[\s_]+", " ", c).upper().strip() for c in cells]
    found: dict[str, int] = {}
    for key, options in _HCPCS_COLUMNS.items():
        for option in options:
            if option in names:
                found[key] = names.index(option)
                break
    needed = {"code", "added", "effective", "terminated"}
    return found if needed <= found.keys() else None


def import_hcpcs(src: Path, dest_dir: Path) -> Path:
    """Normalize a delimited HCPCS ANWEB file into ``hcpcs-<stem>.csv`` (codes and modifiers)."""
    columns: dict[str, int] | None = None
    seen: dict[str, list[str]] = {}
    for line, cells in read_rows(src):
        if columns is None:
            columns = _hcpcs_header(cells)
            continue
        if len(cells) <= max(columns.values()):
            continue
        code = cells[columns["code"]].upper()
        if code in seen or not re.fullmatch(r"[0-9A-Z]{2}|[0-9A-Z]{5}", code):
            continue  # continuation lines repeat the code
        recid = cells[columns["recid"]] if "recid" in columns else ""
        kind = "modifier" if recid in ("7", "8") or len(code) == 2 else "code"
        try:
            dates = [parse_cms_date(cells[columns[k]]) for k in ("added", "effective", "terminated")]
        except ValueError as exc:
            raise ConfigError(src, line, None, f"bad HCPCS row: {exc}") from exc
        seen[code] = [code, kind, *(_iso(d) for d in dates)]
    if columns is None:
        raise ConfigError(src, None, None, "no header row with HCPC, ADD DT, ACT EFF DT and TERM DT")
    header = ["code", "kind", "added", "effective", "terminated"]
    return _finish(src, dest_dir, "hcpcs", header, list(seen.values()))


def _finish(src: Path, dest_dir: Path, kind: str, header: list[str], rows: list[list[str]]) -> Path:
    if not rows:
        raise ConfigError(src, None, None, f"no {kind.upper()} data rows found")
    return _write(dest_dir, f"{kind}-{src.stem}.csv", header, rows)


def _header(cells: list[str], wanted: Mapping[str, tuple[str, ...]]) -> dict[str, int] | None:
    names = [re.sub(r"[\s_]+", " ", c).upper().strip() for c in cells]
    found = {key: names.index(o) for key, options in wanted.items() for o in options if o in names}
    return found if found.keys() == wanted.keys() else None


_PFS_COLUMNS = {"code": ("HCPCS", "HCPCS CODE"), "mod": ("MOD", "MODIFIER"), "global": ("GLOB DAYS", "GLOBAL")}


def import_global_days(src: Path, dest_dir: Path) -> Path:
    """Normalize the PFS relative value file's global days into ``global_days-<stem>.csv``."""
    columns: dict[str, int] | None = None
    rows: dict[str, list[str]] = {}
    for line, cells in read_rows(src):
        if columns is None:
            columns = _header(cells, _PFS_COLUMNS)
            continue
        if len(cells) <= max(columns.values()) or not _CODE.match(cells[columns["code"]]):
            continue
        if cells[columns["mod"]]:
            continue  # -26/-TC rows repeat the code's global period
        days = cells[columns["global"]].upper()
        if days not in ("000", "010", "090", "XXX", "YYY", "ZZZ", "MMM"):
            raise ConfigError(src, line, None, f"bad global days {days!r}")
        rows.setdefault(cells[columns["code"]], [cells[columns["code"]], days])
    if columns is None:
        raise ConfigError(src, None, None, "no header row with HCPCS, MOD and GLOB DAYS")
    return _finish(src, dest_dir, "global_days", ["code", "global"], list(rows.values()))
