"""A CDS Hooks request, checked and read into :class:`HookRequest`. Pure.

Unusable input raises :class:`CdsInputError`: ``status`` 400 for JSON that is not a CDS Hooks
request of this service's hook (CRD hook-9..hook-13), 422 for a valid request that breaks a CRD
constraint (a draft order without an ``id``, found-36).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.cds.hooks import HookService
from app.cds.orders import bundle_resources
from app.errors import FatalError

_REQUIRED_CONTEXT = {
    "order-sign": ("patientId", "draftOrders"),
    "order-select": ("patientId", "draftOrders"),
    "order-dispatch": ("patientId", "dispatchedOrders"),
    "appointment-book": ("patientId", "appointments"),
    "encounter-start": ("patientId", "encounterId"),
}


class CdsInputError(FatalError, ValueError):
    """A hook request this service cannot use (the HTTP status is 400 or 422)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HookRequest:
    hook: str
    hook_instance: str
    context: dict[str, Any]
    fhir_server: str | None = None
    access_token: str | None = None
    prefetch: dict[str, Any] = field(default_factory=dict)
    configuration: dict[str, Any] = field(default_factory=dict)

    @property
    def patient_id(self) -> str:
        return str(self.context["patientId"])

    def option(self, code: str, default: Any) -> Any:
        """A ``davinci-crd.configuration`` value of the right type, else ``default`` (unknown ones ignored)."""
        value = self.configuration.get(code, default)
        return value if type(value) is type(default) else default


def _text(body: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CdsInputError(f"{key} must be a non-empty string")
    return value


def _check_context(service: HookService, context: dict[str, Any]) -> None:
    for key in _REQUIRED_CONTEXT.get(service.hook, ()):
        if key not in context:
            raise CdsInputError(f"context.{key} is required for {service.hook}")
    if not isinstance(context.get("patientId"), str) or not context["patientId"]:
        raise CdsInputError("context.patientId must be a string")
    if service.orders_key is None:
        return
    key = service.orders_key
    value = context[key]
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise CdsInputError(f"context.{key} must list references")
        return
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        raise CdsInputError(f"context.{key} must be a Bundle")
    for resource in bundle_resources(value):
        if not isinstance(resource.get("resourceType"), str):
            raise CdsInputError(f"context.{key} holds an entry without resourceType")
        if not isinstance(resource.get("id"), str) or not resource["id"]:
            raise CdsInputError(f"context.{key}: a {resource['resourceType']} without id", status=422)


def parse_request(body: Any, service: HookService) -> HookRequest:
    """The request for ``service``; raises :class:`CdsInputError` naming the first problem."""
    if not isinstance(body, dict):
        raise CdsInputError("the request body must be a JSON object")
    hook = _text(body, "hook", required=True)
    if hook != service.hook:
        raise CdsInputError(f"hook {hook!r} is not served by {service.id} ({service.hook})")
    instance = _text(body, "hookInstance", required=True)
    context = body.get("context")
    if not isinstance(context, dict):
        raise CdsInputError("context must be an object")
    _check_context(service, context)
    auth = body.get("fhirAuthorization")
    token = None
    if auth is not None:
        if not isinstance(auth, dict) or not isinstance(auth.get("access_token"), str):
            raise CdsInputError("fhirAuthorization.access_token must be a string")
        token = auth["access_token"]
    server = _text(body, "fhirServer", required=auth is not None)
    prefetch = body.get("prefetch") or {}
    extension = body.get("extension") or {}
    if not isinstance(prefetch, dict) or not isinstance(extension, dict):
        raise CdsInputError("prefetch and extension must be objects")
    configuration = extension.get("davinci-crd.configuration") or {}
    return HookRequest(
        hook=service.hook,
        hook_instance=str(instance),
        context=context,
        fhir_server=server.rstrip("/") if server else None,
        access_token=token,
        prefetch=prefetch,
        configuration=configuration if isinstance(configuration, dict) else {},
    )
