"""The one place that pins the FHIR release: R4 (4.0.1) on the wire, R4B models in code.

Inbound resources are validated against the official FHIR R4 JSON Schema (``app.fhir.schema``),
compiled on first use (``app.fhir.schema_hot``): 30-40x cheaper than building the models (bench/validate.py),
and it is R4, not R4B (ADR 0008). ``fhir.resources`` ships no R4 package; its R4B models stay where
typed models serve: ``model_class``, the reference in tests and benchmarks (``validate_with_models``),
and the few R4B-only resource types the R4 schema cannot know (``validate_resource`` hands those to
the models). The hot path works on dicts.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from pydantic import ValidationError

from app.errors import FatalError
from app.fhir import schema

FHIR_VERSION = "4.0.1"
MODEL_PACKAGE = "fhir.resources.R4B"


_R4_TYPES: set[str] = set()  # the R4 types seen so far (saves a call per resource on the hot path)


class InvalidResource(FatalError, ValueError):
    """A resource that is not valid FHIR R4 (or, for R4B-only types, not valid against the R4B models)."""


@cache
def model_class(resource_type: str) -> Any:
    """Return the pinned model class for ``resource_type`` (e.g. ``"Claim"``)."""
    if not resource_type.isidentifier() or not resource_type[:1].isupper():
        raise InvalidResource(f"unknown resource type {resource_type[:64]!r}")
    try:
        module = importlib.import_module(f"{MODEL_PACKAGE}.{resource_type.lower()}")
    except ModuleNotFoundError as exc:
        raise InvalidResource(f"unknown resource type {resource_type[:64]!r}") from exc
    return getattr(module, resource_type)


def validate_resource(resource: dict[str, Any]) -> None:
    """Validate one inbound resource dict against FHIR R4; raise :class:`InvalidResource` with a short reason.

    The reason names the resource type, the element path and the rule (``Patient invalid at
    birthDate: not a valid FHIR date (format)``), never a value. Types the R4 schema does not define
    but the R4B models do (``SubscriptionStatus``, ``Citation``, ...) are validated with the models.
    """
    if not isinstance(resource, dict):
        raise InvalidResource("resource is not a JSON object")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise InvalidResource("resource has no resourceType")
    if resource_type not in _R4_TYPES:
        if resource_type not in schema.resource_types():
            validate_with_models(resource)
            return
        _R4_TYPES.add(resource_type)
    reason = schema.first_error(resource_type, resource)
    if reason is not None:
        raise InvalidResource(f"{resource_type} invalid at {reason}")


def validate_with_models(resource: dict[str, Any]) -> None:
    """Validate with the pinned R4B models (outbound resources in tests, R4B-only types, comparisons)."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise InvalidResource("resource has no resourceType")
    cls = model_class(resource_type)
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidResource(f"{resource_type} invalid at {where or '(root)'}: {first.get('msg')}") from exc
