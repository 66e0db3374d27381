"""Mapping specs (``config/mappings/*.yaml``): schema, checks and compilation into a MappingSet.

Each file names its ``version`` and the target ``profile`` and may hold ``fields`` (FHIRPath sources
plus named transforms), ``tables`` (code tables) and ``settings`` (at most one file). Everything is
checked when the config loads and every error is a :class:`ConfigError` naming file, line and field:
unknown keys, unknown field names, FHIRPath syntax or unknown functions, a source evaluated on the
wrong resource type, unknown transforms or tables, duplicate names across files, required fields
missing from the set. FHIRPath is compiled here, once.

    fields:
      encounter.start:
        resource: Encounter                 # optional: the field's default resource type
        source: Encounter.period.start      # or a list of alternatives (first non-empty wins)
        transform: [first, date]            # steps: a name, or {name: argument}
    tables:
      lab-orders:
        source: http://loinc.org            # or a list; omit to match bare codes
        target: http://www.ama-assn.org/go/cpt
        entries: {"24323-8": "80053"}       # or {code, system, ndc, per, per_unit, modifiers, category}
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.config.yamlfile import LineMap, load_yaml, validate_data
from app.errors import ConfigError
from app.mappers.fhirpath import CompiledPath, ExpressionError, compile_expression
from app.mappers.spec import FIELD_DEFS, FieldRule, MappingSet, Settings
from app.mappers.tables import CodeTable, TableEntry
from app.mappers.transforms import Step, TransformError, check_step

_STRICT = ConfigDict(extra="forbid", frozen=True)
_QUOTE_HINT = "codes must be quoted strings (YAML reads 00100 as the number 64)"


class EntryModel(BaseModel):
    model_config = _STRICT
    code: str = Field(min_length=1)
    system: str | None = None
    ndc: str | None = Field(default=None, pattern=r"^\d{5}-?\d{4}-?\d{2}$")
    per: Decimal | None = Field(default=None, gt=0)
    per_unit: str | None = None
    modifiers: list[str] = Field(default_factory=list, max_length=4)
    category: str | None = None
    ndc_unit: Literal["UN", "ML", "GR", "F2"] | None = None
    ndc_size: Decimal | None = Field(default=None, gt=0)
    single_dose: Decimal | None = Field(default=None, gt=0)

    @field_validator("modifiers")
    @classmethod
    def _modifiers(cls, value: list[str]) -> list[str]:
        for mod in value:
            if not (len(mod) == 2 and mod.isalnum() and mod.upper() == mod):
                raise ValueError(f"modifier {mod!r} is not two upper-case letters/digits")
        return value


class TableModel(BaseModel):
    model_config = _STRICT
    description: str | None = None
    source: str | list[str] | None = None
    target: str = Field(min_length=1)
    match: Literal["exact", "prefix"] = "exact"
    passthrough: bool = False
    category: str | None = None
    entries: dict[str, str | EntryModel] = Field(default_factory=dict)

    @field_validator("entries", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or isinstance(item, int | float):
                    raise ValueError(f"{key!r}: {_QUOTE_HINT}")
        return value


class FieldModel(BaseModel):
    model_config = _STRICT
    resource: str | None = None  # not "on": YAML 1.1 reads the key on as true
    source: str | list[str]
    transform: list[str | dict[str, Any]] = Field(default_factory=list)


class SettingsModel(BaseModel):
    model_config = _STRICT
    telehealth_modifier: str | None = Field(default="95", pattern=r"^[A-Z0-9]{2}$")
    established_lookback_years: int = Field(default=3, ge=1, le=10)
    referral_risk: Literal["minimal", "low", "moderate", "high"] = "low"


class MappingFileModel(BaseModel):
    model_config = _STRICT
    version: str = Field(min_length=1)
    profile: str = Field(pattern=r"^https?://\S+$")
    description: str | None = None
    settings: SettingsModel | None = None
    fields: dict[str, FieldModel] = Field(default_factory=dict)
    tables: dict[str, TableModel] = Field(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError('version must be a quoted string (e.g. "2024.3")')
        return value


def _compile_table(name: str, model: TableModel) -> CodeTable:
    entries: dict[str, TableEntry] = {}
    for key, item in model.entries.items():
        if isinstance(item, str):
            entries[key] = TableEntry(code=item)
        else:
            entries[key] = TableEntry(
                code=item.code,
                system=item.system,
                ndc=item.ndc.replace("-", "") if item.ndc else None,
                per=item.per,
                per_unit=item.per_unit,
                modifiers=tuple(item.modifiers),
                category=item.category,
                ndc_unit=item.ndc_unit,
                ndc_size=item.ndc_size,
                single_dose=item.single_dose,
            )
    sources = () if model.source is None else tuple([model.source] if isinstance(model.source, str) else model.source)
    return CodeTable(
        name=name,
        target=model.target,
        sources=sources,
        entries=entries,
        passthrough=model.passthrough,
        match=model.match,
        category=model.category,
    )


def _parse_step(raw: str | dict[str, Any]) -> Step:
    if isinstance(raw, str):
        return Step(raw)
    if len(raw) != 1:
        raise TransformError("a transform step is a name or a mapping with exactly one key")
    name, arg = next(iter(raw.items()))
    return Step(str(name), arg)


class _FileCompiler:
    """Compiles one validated file; every problem is raised with its file and line."""

    def __init__(self, path: Path, lines: LineMap) -> None:
        self.path, self.lines = path, lines

    def fail(self, where: tuple[Any, ...], problem: str) -> ConfigError:
        return ConfigError(self.path, self.lines.line_for(where), ".".join(map(str, where)), problem)

    def compile_field(self, name: str, model: FieldModel, tables: set[str]) -> FieldRule:
        definition = FIELD_DEFS.get(name)
        if definition is None:
            raise self.fail(("fields", name), f"unknown field (known: {', '.join(sorted(FIELD_DEFS))})")
        on = model.resource or definition.on[0]
        if on not in definition.on:
            raise self.fail(("fields", name, "resource"), f"must be one of {', '.join(definition.on)}")
        raw_sources = [model.source] if isinstance(model.source, str) else model.source
        if not raw_sources:
            raise self.fail(("fields", name, "source"), "needs at least one expression")
        sources: list[CompiledPath] = []
        for i, text in enumerate(raw_sources):
            where: tuple[Any, ...] = ("fields", name, "source") + ((i,) if isinstance(model.source, list) else ())
            try:
                sources.append(compile_expression(text, resource_type=on))
            except ExpressionError as exc:
                raise self.fail(where, f"FHIRPath {text!r}: {exc}") from exc
        steps = []
        for i, raw in enumerate(model.transform):
            try:
                step = _parse_step(raw)
                check_step(step, tables)
            except TransformError as exc:
                raise self.fail(("fields", name, "transform", i), str(exc)) from exc
            steps.append(step)
        return FieldRule(name=name, on=on, sources=tuple(sources), steps=tuple(steps))


def _mapping_files(directory: Path) -> list[Path]:
    folder = directory / "mappings"
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise ConfigError(folder, None, None, "no mapping files (*.yaml)")
    return files


def _settings(model: SettingsModel | None) -> Settings:
    if model is None:
        return Settings()
    return Settings(
        telehealth_modifier=model.telehealth_modifier,
        established_lookback_years=model.established_lookback_years,
        referral_risk=model.referral_risk,
    )


def load_mappings(directory: Path) -> MappingSet:
    """Read, check and compile ``directory/mappings/*.yaml`` into one :class:`MappingSet`."""
    parsed: list[tuple[Path, LineMap, MappingFileModel]] = []
    for path in _mapping_files(directory):
        data, lines = load_yaml(path)
        parsed.append((path, lines, validate_data(path, data, lines, MappingFileModel)))
    tables: dict[str, CodeTable] = {}
    owner: dict[str, Path] = {}
    for path, lines, model in parsed:
        for name, table in model.tables.items():
            if name in tables:
                raise ConfigError(
                    path, lines.line_for(("tables", name)), f"tables.{name}", f"already defined in {owner[name]}"
                )
            tables[name], owner[name] = _compile_table(name, table), path
    fields: dict[str, FieldRule] = {}
    for path, lines, model in parsed:
        compiler = _FileCompiler(path, lines)
        for name, field_model in model.fields.items():
            if name in fields:
                raise compiler.fail(("fields", name), f"already defined in {owner['field:' + name]}")
            fields[name] = compiler.compile_field(name, field_model, set(tables))
            owner["field:" + name] = path
    _check_required(parsed, fields)
    return MappingSet(
        version=_combined_version(parsed),
        profile=_one_profile(parsed),
        fields=fields,
        tables=tables,
        settings=_one_settings(parsed),
    )


def _one_profile(parsed: list[tuple[Path, LineMap, MappingFileModel]]) -> str:
    first = parsed[0][2].profile
    for path, lines, model in parsed[1:]:
        if model.profile != first:
            raise ConfigError(path, lines.line_for(("profile",)), "profile", f"differs from {parsed[0][0]} ({first})")
    return first


def _one_settings(parsed: list[tuple[Path, LineMap, MappingFileModel]]) -> Settings:
    holders = [(p, ln, m) for p, ln, m in parsed if m.settings is not None]
    if len(holders) > 1:
        path, lines, _ = holders[1]
        raise ConfigError(
            path, lines.line_for(("settings",)), "settings", f"settings are already given in {holders[0][0]}"
        )
    return _settings(holders[0][2].settings if holders else None)


def _check_required(parsed: list[tuple[Path, LineMap, MappingFileModel]], fields: dict[str, FieldRule]) -> None:
    missing = [name for name, d in FIELD_DEFS.items() if d.required and name not in fields]
    if missing:
        with_fields = [(p, ln) for p, ln, m in parsed if m.fields] or [(parsed[0][0], LineMap())]
        path, lines = with_fields[0]
        raise ConfigError(path, lines.get("fields"), "fields", f"missing required fields: {', '.join(missing)}")


def _combined_version(parsed: list[tuple[Path, LineMap, MappingFileModel]]) -> str:
    return "+".join(f"{path.stem}@{model.version}" for path, _, model in parsed)
