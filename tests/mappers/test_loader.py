"""Mapping and charge-master loading: the shipped config loads; every error names file and line."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from app.config.chargemaster import load_chargemaster
from app.config.mappings import load_mappings
from app.errors import ConfigError
from app.mappers.spec import FIELD_DEFS

SPEC = "professional-claim.yaml"
TABLES = "code-tables.yaml"


def edit(directory: Path, name: str, old: str, new: str) -> Path:
    path = directory / "mappings" / name if name != "chargemaster.yaml" else directory / name
    text = path.read_text()
    assert old in text, f"fixture text not found: {old!r}"
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_shipped_config_loads_with_every_required_field(mappings) -> None:
    required = {name for name, d in FIELD_DEFS.items() if d.required}
    assert required <= set(mappings.fields)
    assert mappings.version == "code-tables@2024.3+professional-claim@2024.3"
    assert mappings.profile == "http://hl7.org/fhir/StructureDefinition/Claim"
    assert mappings.settings.telehealth_modifier == "95"


def test_shipped_chargemaster_loads(chargemaster) -> None:
    assert chargemaster.price("99213") == Decimal("145.00")
    assert chargemaster.price("J0696") == Decimal("18.00")
    assert chargemaster.price("00000") is None


def test_unknown_key_names_file_line_and_field(config_copy: Path) -> None:
    path = edit(config_copy, SPEC, "  encounter.start:\n", "  encounter.start:\n    colour: blue\n")
    with pytest.raises(ConfigError) as err:
        load_mappings(config_copy)
    assert err.value.path == str(path)
    assert err.value.line == line_of(path, "colour: blue")
    assert err.value.field == "fields.encounter.start.colour"
    assert re.match(rf"^{re.escape(str(path))}:\d+: fields\.encounter\.start\.colour: ", str(err.value))


def test_unknown_transform_fails_at_load(config_copy: Path) -> None:
    path = edit(config_copy, SPEC, "transform: [first, date]", "transform: [first, to_date]")
    with pytest.raises(ConfigError, match="unknown transform 'to_date'") as err:
        load_mappings(config_copy)
    assert err.value.path == str(path)
    assert err.value.line == line_of(path, "to_date")
    assert err.value.field == "fields.encounter.start.transform.1"


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("Encounter.period.(start", "syntax error"),
        ("Encounter.period.start )", "unexpected text"),
        ("Encounter.period.begins()", "unknown FHIRPath function begins()"),
        ("Patient.birthDate", "starts with Patient but is evaluated on Encounter"),
    ],
)
def test_bad_fhirpath_fails_at_load(config_copy: Path, expression: str, problem: str) -> None:
    path = edit(config_copy, SPEC, "source: Encounter.period.start\n", f'source: "{expression}"\n')
    with pytest.raises(ConfigError, match=re.escape(problem)) as err:
        load_mappings(config_copy)
    assert err.value.line == line_of(path, expression)
    assert err.value.field == "fields.encounter.start.source"


def test_bad_fhirpath_in_a_source_list_names_the_alternative(config_copy: Path) -> None:
    path = edit(config_copy, SPEC, "      - Organization.identifier.value", "      - Organization.identifier.value.(")
    with pytest.raises(ConfigError) as err:
        load_mappings(config_copy)
    assert err.value.field == "fields.payer.id.source.1"
    assert err.value.line == line_of(path, "Organization.identifier.value.(")


def test_unknown_table_fails_at_load(config_copy: Path) -> None:
    path = edit(config_copy, SPEC, "{map_code: place-of-service}", "{map_code: place-of-services}")
    with pytest.raises(ConfigError, match="unknown table 'place-of-services'") as err:
        load_mappings(config_copy)
    assert err.value.line == line_of(path, "place-of-services")


def test_unknown_field_name_fails(config_copy: Path) -> None:
    path = edit(config_copy, SPEC, "  encounter.start:\n", "  encounter.begin:\n")
    with pytest.raises(ConfigError, match="unknown field") as err:
        load_mappings(config_copy)
    assert err.value.line == line_of(path, "encounter.begin:")


def test_field_on_a_resource_type_it_does_not_allow(config_copy: Path) -> None:
    edit(config_copy, SPEC, "    resource: Encounter\n", "    resource: Observation\n")
    with pytest.raises(ConfigError, match="must be one of Encounter, ChargeItem, Procedure") as err:
        load_mappings(config_copy)
    assert err.value.field == "fields.em.billed.resource"


def test_missing_required_field(config_copy: Path) -> None:
    path = config_copy / "mappings" / SPEC
    text = path.read_text()
    block = text[text.index("  encounter.minutes:\n") : text.index("  encounter.diagnosis:\n")]
    path.write_text(text.replace(block, ""))
    with pytest.raises(ConfigError, match=r"missing required fields: encounter\.minutes$") as err:
        load_mappings(config_copy)
    assert err.value.line == line_of(path, "fields:")


def test_unquoted_numeric_code_is_refused(config_copy: Path) -> None:
    path = edit(config_copy, TABLES, '"24323-8": "80053"', '"24323-8": 80053')
    with pytest.raises(ConfigError, match="quoted strings") as err:
        load_mappings(config_copy)
    assert err.value.path == str(path)


def test_duplicate_table_across_files(config_copy: Path) -> None:
    extra = config_copy / "mappings" / "zz-extra.yaml"
    extra.write_text(
        'version: "1"\nprofile: http://hl7.org/fhir/StructureDefinition/Claim\ntables:\n  lab-orders:\n    target: x\n'
    )
    with pytest.raises(ConfigError, match="already defined in") as err:
        load_mappings(config_copy)
    assert err.value.path == str(extra)
    assert err.value.line == 4


def test_version_must_be_text(config_copy: Path) -> None:
    edit(config_copy, TABLES, 'version: "2024.3"', "version: 2024.3")
    with pytest.raises(ConfigError, match="version must be a quoted string"):
        load_mappings(config_copy)


def test_yaml_on_key_trap_is_reported_not_misread(config_copy: Path) -> None:
    edit(config_copy, SPEC, "    resource: Encounter\n", "    on: Encounter\n")
    with pytest.raises(ConfigError, match="Keys should be strings"):
        load_mappings(config_copy)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('\n  "99213": 145.00\n', '\n  "99213": -145.00\n', "must be positive"),
        ('\n  "99213": 145.00\n', '\n  "99213": 145.001\n', "at most 2 decimals"),
        ('\n  "99213": 145.00\n', "\n  99213: 145.00\n", "quoted string"),
        ('\n  "99213": 145.00\n', '\n  "9921X": 145.00\n', "not a CPT/HCPCS code"),
        ("\ncurrency: USD\n", "\ncurrency: USD\nsurcharge: 3\n", "Extra inputs are not permitted"),
    ],
)
def test_chargemaster_errors(config_copy: Path, old: str, new: str, problem: str) -> None:
    path = edit(config_copy, "chargemaster.yaml", old, new)
    with pytest.raises(ConfigError, match=re.escape(problem)) as err:
        load_chargemaster(config_copy)
    assert err.value.path == str(path)
    assert err.value.line is not None


def test_no_mapping_files(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    with pytest.raises(ConfigError, match="no mapping files"):
        load_mappings(tmp_path)
