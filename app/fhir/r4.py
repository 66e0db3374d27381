"""The one place that pins the FHIR model release.

EHRs speak FHIR R4 (4.0.1). ``fhir.resources`` ships no R4 package; its R4B package parses R4 JSON
for every resource claimbridge uses, so R4B is the pinned model set. Validation happens once, at the
edges (inbound resources when they enter, outbound resources in tests); the hot path works on dicts.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from pydantic import ValidationError

from app.errors import FatalError

FHIR_VERSION = "4.0.1"
MODEL_PACKAGE = "fhir.resources.R4B"


class InvalidResource(FatalError, ValueError):
    """A resource that does not validate against the pinned R4 models."""


@cache
def model_class(resource_type: str) -> Any:
    """Return the pinned model class for ``resource_type`` (e.g. ``"Claim"``)."""
    if not resource_type.isidentifier() or not resource_type[:1].isupper():
        raise InvalidResource(f"unknown resource type {resource_type!r}")
    try:
        module = importlib.import_module(f"{MODEL_PACKAGE}.{resource_type.lower()}")
    except ModuleNotFoundError as exc:
        raise InvalidResource(f"unknown resource type {resource_type!r}") from exc
    return getattr(module, resource_type)


def validate_resource(resource: dict[str, Any]) -> None:
    """Validate one resource dict; raise :class:`InvalidResource` with a short reason."""
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
