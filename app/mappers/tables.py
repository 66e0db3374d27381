"""Code tables (ConceptMap-like): a source code (in one of the source systems) → a target code.

A table maps, for example, LOINC lab orders to CPT, local order codes to CPT/HCPCS, RxNorm drugs to
a HCPCS J-code plus NDC and billing unit, ICD-10-CM prefixes to problem classes, or
``Encounter.class`` codes to a place of service. ``passthrough`` tables accept any code of their
source systems unchanged (a ServiceRequest already coded in CPT). ``prefix`` tables match the
longest key that starts the code (``E11`` matches ``E11.9``). Lookups return :class:`MappedCode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

_MEMO_SIZE = 4096
_MISSING = object()


@dataclass(frozen=True, slots=True)
class TableEntry:
    code: str
    system: str | None = None  # overrides the table's target system (e.g. a CPT vaccine in a drug table)
    ndc: str | None = None  # 11-digit NDC (5-4-2), drugs only
    per: Decimal | None = None  # the billing unit of the code (J0696: 250 mg); None = one unit per line
    per_unit: str | None = None  # UCUM unit of ``per`` (mg)
    modifiers: tuple[str, ...] = ()
    category: str | None = None  # lab | imaging | procedure | drug | vaccine | ... (overrides the table's)
    ndc_unit: str | None = None  # the NDC's billing unit (837P CTP05): UN (each), ML, GR or F2 (IU)
    ndc_size: Decimal | None = None  # drug (in ``per_unit``) in one ``ndc_unit`` (mg per mL; mg per vial)
    single_dose: Decimal | None = None  # a single-dose container holding this much (in ``per_unit``): JZ/JW


@dataclass(frozen=True, slots=True)
class MappedCode:
    """A code found in a table, with where it came from."""

    system: str
    code: str
    table: str
    source_system: str | None
    source_code: str
    entry: TableEntry

    @property
    def category(self) -> str | None:
        return self.entry.category

    def coding(self) -> dict[str, Any]:
        return {"system": self.system, "code": self.code}


@dataclass(frozen=True)
class CodeTable:
    name: str
    target: str
    sources: tuple[str, ...] = ()  # empty: match bare codes whatever their system
    entries: Mapping[str, TableEntry] = field(default_factory=dict)
    passthrough: bool = False
    match: Literal["exact", "prefix"] = "exact"
    #: (system, code) -> what :meth:`lookup` returned (results are immutable); bounded, cleared when full.
    _memo: dict[tuple[str | None, str], MappedCode | None] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    category: str | None = None

    def _entry(self, code: str) -> TableEntry | None:
        if self.match == "exact":
            return self.entries.get(code)
        for end in range(len(code), 0, -1):
            hit = self.entries.get(code[:end])
            if hit is not None:
                return hit
        return None

    def lookup(self, system: str | None, code: str) -> MappedCode | None:
        """Map one code; ``system`` None (a bare code) matches any table. Remembered: the same code
        of the same system recurs on every order and visit."""
        if not (system is None or system.__class__ is str) or code.__class__ is not str:
            return self._lookup(system, code)  # odd data (1 and True are one key): not remembered
        key = (system, code)
        memo = self._memo
        found = memo.get(key, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        found = memo[key] = self._lookup(system, code)
        return found

    def _lookup(self, system: str | None, code: str) -> MappedCode | None:
        if self.sources and system is not None and system not in self.sources:
            return None
        entry = self._entry(code)
        if entry is None and self.passthrough:
            entry = TableEntry(code=code)
        if entry is None:
            return None
        if entry.category is None and self.category is not None:
            entry = _with_category(entry, self.category)
        return MappedCode(
            system=entry.system or self.target,
            code=entry.code,
            table=self.name,
            source_system=system,
            source_code=code,
            entry=entry,
        )


def _with_category(entry: TableEntry, category: str) -> TableEntry:
    return TableEntry(
        code=entry.code,
        system=entry.system,
        ndc=entry.ndc,
        per=entry.per,
        per_unit=entry.per_unit,
        modifiers=entry.modifiers,
        category=category,
        ndc_unit=entry.ndc_unit,
        ndc_size=entry.ndc_size,
        single_dose=entry.single_dose,
    )
