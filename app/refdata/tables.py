"""The in-memory reference tables and their date-aware lookups (pure; built by :mod:`loader`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from app.refdata.icd10 import Icd10Table
from app.refdata.icd10_releases import table_for, with_fiscal_year

T = TypeVar("T")
_MEMO_LIMIT = 200_000  # prefix look-ups remembered (codes are finite; the cap only guards memory)


@dataclass(frozen=True, slots=True)
class PtpEdit:
    """One NCCI procedure-to-procedure edit: ``column2`` is a component of ``column1``."""

    column1: str
    column2: str
    effective: date
    deletion: date | None  # the edit no longer applies on or after this date
    modifier: int  # 0 = no bypass allowed, 1 = NCCI-associated modifier bypasses, 9 = not applicable

    def active_on(self, dos: date) -> bool:
        return self.effective <= dos and (self.deletion is None or dos < self.deletion)


@dataclass(frozen=True, slots=True)
class MueEntry:
    """Medically unlikely edit: at most ``value`` units; MAI 1 per line, 2/3 per date of service."""

    code: str
    value: int
    mai: int
    effective: date | None = None
    end: date | None = None

    def active_on(self, dos: date) -> bool:
        return (self.effective is None or self.effective <= dos) and (self.end is None or dos <= self.end)


@dataclass(frozen=True, slots=True)
class HcpcsEntry:
    """A HCPCS Level II code or modifier with its dates (ANWEB ADD_DT / ACT_EFF_DT / TERM_DT)."""

    code: str
    kind: str  # "code" or "modifier"
    added: date | None
    effective: date | None
    terminated: date | None

    def active_on(self, dos: date) -> bool:
        start = self.effective or self.added
        return (start is None or start <= dos) and (self.terminated is None or dos <= self.terminated)


@dataclass(frozen=True, slots=True)
class AgeLimit:
    min_age: int
    max_age: int


@dataclass(frozen=True)
class RefData:
    """Every reference table, keyed for O(1) lookup. Empty tables simply produce no findings."""

    ptp: dict[tuple[str, str], tuple[PtpEdit, ...]] = field(default_factory=dict)
    mue: dict[str, tuple[MueEntry, ...]] = field(default_factory=dict)
    hcpcs: dict[str, HcpcsEntry] = field(default_factory=dict)
    age_edits: dict[tuple[str, str], AgeLimit] = field(default_factory=dict)  # (dx|px, prefix)
    sex_edits: dict[tuple[str, str], str] = field(default_factory=dict)  # (dx|px, prefix) -> sex
    global_days: dict[str, str] = field(default_factory=dict)
    icd10: Icd10Table | None = None  # the packaged release (simple-icd-10-cm)
    icd10_releases: tuple[Icd10Table, ...] = ()  # operator-supplied releases (icd10cm-fy<YEAR>.tsv)
    sources: tuple[str, ...] = ()  # the files it was read from, for provenance
    # derived indexes (filled in __post_init__): column-1 code -> column-2 codes; prefix lengths by kind
    ptp_partners: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _lengths: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict, repr=False)
    _age_memo: dict[tuple[str, str], AgeLimit | None] = field(default_factory=dict, repr=False, compare=False)
    _sex_memo: dict[tuple[str, str], str | None] = field(default_factory=dict, repr=False, compare=False)
    _icd10_by_year: list[Icd10Table] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_year = {t.fiscal_year: t for t in (*([with_fiscal_year(self.icd10)] if self.icd10 else []),
                                             *self.icd10_releases)}  # fmt: skip
        self._icd10_by_year.extend(by_year[y] for y in sorted(by_year, key=lambda y: -1 if y is None else y))
        partners: dict[str, set[str]] = {}
        for column1, column2 in self.ptp:
            partners.setdefault(column1, set()).add(column2)
        self.ptp_partners.update({k: frozenset(v) for k, v in partners.items()})
        for name, table in (("age", self.age_edits), ("sex", self.sex_edits)):
            for kind in ("dx", "px"):
                sizes = {len(prefix) for k, prefix in table if k == kind}
                self._lengths[(name, kind)] = tuple(sorted(sizes, reverse=True))

    def icd10_for(self, dos: date | None) -> Icd10Table | None:
        """The ICD-10-CM table to check a date of service against (the release in force, else the newest earlier)."""
        return table_for(self._icd10_by_year, dos)[0]

    def icd10_in_force(self, dos: date | None) -> bool:
        """Whether a release of the date of service's fiscal year is loaded."""
        return table_for(self._icd10_by_year, dos)[1]

    def ptp_edit(self, column1: str, column2: str, dos: date) -> PtpEdit | None:
        """The PTP edit for the ordered pair active on ``dos``, if any."""
        for edit in self.ptp.get((column1, column2), ()):
            if edit.active_on(dos):
                return edit
        return None

    def mue_for(self, code: str, dos: date) -> MueEntry | None:
        """The MUE entry in force on ``dos`` (the one with the latest effective date)."""
        for entry in self.mue.get(code, ()):  # sorted newest first
            if entry.active_on(dos):
                return entry
        return None

    def age_limit(self, kind: str, code: str) -> AgeLimit | None:
        """The age band for the longest matching code prefix of ``kind`` (``dx`` or ``px``)."""
        key = (kind, code)
        memo = self._age_memo
        if key not in memo:
            if len(memo) > _MEMO_LIMIT:
                memo.clear()
            memo[key] = _longest_prefix(self.age_edits, self._lengths.get(("age", kind), ()), kind, code)
        return memo[key]

    def sex_for(self, kind: str, code: str) -> str | None:
        """``male``/``female`` for the longest matching code prefix, or None."""
        key = (kind, code)
        memo = self._sex_memo
        if key not in memo:
            if len(memo) > _MEMO_LIMIT:
                memo.clear()
            memo[key] = _longest_prefix(self.sex_edits, self._lengths.get(("sex", kind), ()), kind, code)
        return memo[key]


def _longest_prefix(table: dict[tuple[str, str], T], sizes: tuple[int, ...], kind: str, code: str) -> T | None:
    for size in sizes:  # only the prefix lengths the table has, longest first
        if size <= len(code):
            hit = table.get((kind, code[:size]))
            if hit is not None:
                return hit
    return None
