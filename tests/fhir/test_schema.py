"""The vendored R4 JSON Schema: provenance, the corrections applied at load, lazy compilation, messages."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from importlib.resources import files

import pytest

from app.fhir import schema
from app.fhir.r4 import InvalidResource, validate_resource

SHA256 = "312220513e73ee78d57422024878b07200e39fc86aa37d096dd4206ff7402aed"  # app/fhir/SOURCES.md
ENCOUNTER = {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "AMB"}}


def reason(resource: dict) -> str:
    with pytest.raises(InvalidResource) as exc:
        validate_resource(resource)
    return str(exc.value)


def test_vendored_file_is_the_npm_file_byte_for_byte() -> None:
    raw = gzip.decompress(files("app.fhir").joinpath(schema.SCHEMA_RESOURCE).read_bytes())
    assert hashlib.sha256(raw).hexdigest() == SHA256


def test_every_reference_resolves_and_resource_and_integer64_are_defined() -> None:
    defs = schema.definitions()
    assert {"Resource", "integer64"} <= defs.keys()
    unresolved = {ref for refs in schema.references().values() for ref in refs} - defs.keys()
    assert unresolved == set()


def test_r4_has_146_resource_types_and_none_of_medplum() -> None:
    assert len(schema.resource_types()) == schema.R4_RESOURCE_TYPE_COUNT
    assert schema.resource_types().isdisjoint(schema.MEDPLUM_TYPES)
    assert "unknown resource type 'Project'" in reason({"resourceType": "Project", "name": "x"})
    assert "meta.project: unknown element" in reason({**ENCOUNTER, "meta": {"project": "p"}})


def test_every_r4_type_compiles() -> None:
    """Every R4 pattern compiles with the linear-time regex engine; every type has its validator."""
    for resource_type in sorted(schema.resource_types()):
        assert schema.validator(resource_type).is_valid({"resourceType": resource_type}) in (True, False)


def test_nothing_is_loaded_or_compiled_at_import() -> None:
    """The hot validator is compiled on first use; a type's own (explaining) validator on its first error."""
    code = (
        "import app.fhir.r4, app.worker.pipeline, app.cli.check\n"
        "from app.fhir import schema, schema_hot\n"
        "fns = schema.definitions, schema_hot.hot_validator, schema.validator\n"
        "sizes = lambda: [f.cache_info().currsize for f in fns]\n"
        "print(*sizes())\n"
        "schema.first_error('Encounter', {'resourceType': 'Encounter', 'status': 'finished', 'class': {'code': 'A'}})\n"
        "print(*sizes())\n"
        "schema.first_error('Encounter', {'resourceType': 'Encounter'})\n"
        "print(*sizes())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out == ["0", "0", "0", "1", "1", "0", "1", "1", "1"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"status": "done"}, "Encounter invalid at status: code not in the required value set (planned | arrived"),
        ({"period": {"start": "2026-13-01"}}, "Encounter invalid at period.start: not a valid FHIR dateTime (format)"),
        ({"class": [{"code": "AMB"}]}, "Encounter invalid at class: wrong type: expected object"),
        ({"subject": "Patient/1"}, "Encounter invalid at subject: wrong type: expected object"),
        ({"length": {"value": "10"}}, "Encounter invalid at length.value: wrong type: expected number"),
        (
            {"priority": {"coding": [{"code": "R", "extra": 1}]}},
            "Encounter invalid at priority.coding[0].extra: unknown",
        ),
        ({"status": None}, "Encounter invalid at status: code not in the required value set"),
    ],
)
def test_errors_name_type_path_and_rule(change: dict, expected: str) -> None:
    assert reason({**ENCOUNTER, **change}).startswith(expected)


def test_errors_never_echo_values() -> None:
    secret = "Jane-Doe-1970"
    for change in ({"status": secret}, {"period": {"start": secret}}, {"id": secret + " x"}, {"class": secret}):
        assert secret not in reason({**ENCOUNTER, **change})


def test_required_elements_as_value_extension_or_choice() -> None:
    no_status = {k: v for k, v in ENCOUNTER.items() if k != "status"}
    assert reason(no_status) == "Encounter invalid at status: required element missing"
    absent = {
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]
    }
    validate_resource({**no_status, "_status": absent})
    order = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "P/1"},
    }
    assert reason(order) == "MedicationRequest invalid at medication[x]: required element missing"
    validate_resource({**order, "medicationReference": {"reference": "Medication/1"}})
    assert "extension[0].url: required element missing" in reason({**ENCOUNTER, "extension": [{"valueString": "x"}]})


def test_integers_are_32_bit_json_integers() -> None:
    patient = {"resourceType": "Patient", "id": "p"}
    validate_resource({**patient, "multipleBirthInteger": 2})
    assert "wrong type: expected integer" in reason({**patient, "multipleBirthInteger": 2.5})
    assert "out of range" in reason({**patient, "multipleBirthInteger": 2**31})


def test_nested_resources_are_validated_with_their_own_type() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {**ENCOUNTER, "status": "x"}}]}
    assert reason(bundle).startswith("Bundle invalid at entry[0].resource.status: code not in")
    contained = {**ENCOUNTER, "contained": [{"resourceType": "Patient", "gender": "x"}]}
    assert reason(contained).startswith("Encounter invalid at contained[0].gender: code not in")
    assert reason({**ENCOUNTER, "contained": [{"resourceType": "Nope"}]}).endswith(
        "contained[0].resourceType: not an R4 resource type"
    )
    params = {"resourceType": "Parameters", "parameter": [{"name": "a", "part": [{"name": "b", "resource": bundle}]}]}
    assert reason(params).startswith("Parameters invalid at parameter[0].part[0].resource.entry[0].resource.status")


def test_r4b_only_types_go_to_the_r4b_models() -> None:
    """SubscriptionStatus (R4B; R4 backport notifications use Parameters) is not in the R4 schema."""
    assert "SubscriptionStatus" not in schema.resource_types()
    validate_resource({"resourceType": "SubscriptionStatus", "type": "heartbeat", "subscription": {"reference": "S/1"}})
    assert "SubscriptionStatus invalid at" in reason({"resourceType": "SubscriptionStatus", "type": "heartbeat"})


def test_not_a_resource() -> None:
    assert reason({"id": "x"}) == "resource has no resourceType"
    assert reason([]) == "resource is not a JSON object"  # type: ignore[arg-type]
