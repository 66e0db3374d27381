"""Read normalized reference tables from one or more directories into one :class:`RefData`.

Files (CSV with a header row; lines starting with ``#`` are comments, e.g. a SYNTHETIC marker):
``ptp*.csv`` (column1, column2, effective, deletion, modifier), ``mue*.csv`` (code, value, mai,
effective, end), ``hcpcs*.csv`` (code, kind, added, effective, terminated), ``age_edits*.csv`` (kind
dx|px, prefix, min_age, max_age), ``sex_edits*.csv`` (kind, prefix, sex male|female),
``global_days*.csv`` (code, global 000|010|090|XXX|YYY|ZZZ|MMM). Later directories add to earlier
ones; a malformed row is a :class:`ConfigError` naming file and line.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from app.errors import ConfigError
from app.refdata.icd10 import load_icd10
from app.refdata.icd10_releases import read_releases
from app.refdata.tables import AgeLimit, HcpcsEntry, MueEntry, PtpEdit, RefData

_KINDS = ("dx", "px")
_SEXES = ("male", "female")
_GLOBALS = ("000", "010", "090", "XXX", "YYY", "ZZZ", "MMM")


def _d(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [(n, line) for n, line in enumerate(fh, start=1) if line.strip() and not line.startswith("#")]
    if not lines:
        return
    reader = csv.DictReader(line for _, line in lines)
    for (number, _), row in zip(lines[1:], reader, strict=False):
        yield number, {k.strip(): (v or "").strip() for k, v in row.items() if k}


def _read(path: Path, parse: Callable[[dict[str, str]], None]) -> None:
    for line, row in _rows(path):
        try:
            parse(row)
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(path, line, None, f"bad row: {exc}") from exc


class _Builder:
    def __init__(self) -> None:
        self.ptp: dict[tuple[str, str], list[PtpEdit]] = defaultdict(list)
        self.mue: dict[str, list[MueEntry]] = defaultdict(list)
        self.hcpcs: dict[str, HcpcsEntry] = {}
        self.age: dict[tuple[str, str], AgeLimit] = {}
        self.sex: dict[tuple[str, str], str] = {}
        self.global_days: dict[str, str] = {}

    def ptp_row(self, r: dict[str, str]) -> None:
        effective = date.fromisoformat(r["effective"])
        modifier = int(r["modifier"])
        if modifier not in (0, 1, 9):
            raise ValueError(f"modifier indicator {modifier} not 0/1/9")
        edit = PtpEdit(r["column1"], r["column2"], effective, _d(r["deletion"]), modifier)
        self.ptp[(edit.column1, edit.column2)].append(edit)

    def mue_row(self, r: dict[str, str]) -> None:
        mai = int(r["mai"])
        if mai not in (1, 2, 3):
            raise ValueError(f"MAI {mai} not 1/2/3")
        entry = MueEntry(r["code"], int(r["value"]), mai, _d(r.get("effective", "")), _d(r.get("end", "")))
        self.mue[entry.code].append(entry)

    def hcpcs_row(self, r: dict[str, str]) -> None:
        if r["kind"] not in ("code", "modifier"):
            raise ValueError(f"kind {r['kind']!r} not code/modifier")
        entry = HcpcsEntry(r["code"], r["kind"], _d(r["added"]), _d(r["effective"]), _d(r["terminated"]))
        self.hcpcs[entry.code] = entry

    def age_row(self, r: dict[str, str]) -> None:
        limit = AgeLimit(int(r["min_age"]), int(r["max_age"]))
        if r["kind"] not in _KINDS or limit.min_age > limit.max_age:
            raise ValueError("kind must be dx/px and min_age <= max_age")
        self.age[(r["kind"], r["prefix"].replace(".", "").upper())] = limit

    def sex_row(self, r: dict[str, str]) -> None:
        if r["kind"] not in _KINDS or r["sex"] not in _SEXES:
            raise ValueError("kind must be dx/px and sex male/female")
        self.sex[(r["kind"], r["prefix"].replace(".", "").upper())] = r["sex"]

    def global_row(self, r: dict[str, str]) -> None:
        if r["global"] not in _GLOBALS:
            raise ValueError(f"global {r['global']!r} not one of {', '.join(_GLOBALS)}")
        self.global_days[r["code"]] = r["global"]

    def parsers(self) -> dict[str, Callable[[dict[str, str]], None]]:
        return {
            "ptp": self.ptp_row,
            "mue": self.mue_row,
            "hcpcs": self.hcpcs_row,
            "age_edits": self.age_row,
            "sex_edits": self.sex_row,
            "global_days": self.global_row,
        }

    def build(self, **extra: Any) -> RefData:
        newest_first = {
            k: tuple(sorted(v, key=lambda e: e.effective or date.min, reverse=True)) for k, v in self.mue.items()
        }
        return RefData(
            ptp={k: tuple(v) for k, v in self.ptp.items()},
            mue=newest_first,
            hcpcs=dict(self.hcpcs),
            age_edits=dict(self.age),
            sex_edits=dict(self.sex),
            global_days=dict(self.global_days),
            **extra,
        )


def load_refdata(dirs: list[Path], *, cache_dir: Path | None = None, with_icd10: bool = True) -> RefData:
    """Read every normalized table in ``dirs`` (missing directories are skipped).

    ``with_icd10`` also loads the cached ICD-10-CM flag table (from ``cache_dir``, building it once).
    """
    builder = _Builder()
    parsers = builder.parsers()
    sources: list[str] = []
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.csv")):
            kind = next((k for k in parsers if path.name.startswith(k)), None)
            if kind is None:
                continue
            _read(path, parsers[kind])
            sources.append(str(path))
    icd10 = load_icd10(cache_dir) if with_icd10 else None
    releases = read_releases(dirs)
    sources += [f"icd10cm FY{t.fiscal_year}: {t.version}" for t in releases]
    return builder.build(icd10=icd10, icd10_releases=releases, sources=tuple(sources))
