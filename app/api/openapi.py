"""The OpenAPI description, completed with the error answers every operation can give.

FastAPI documents 422 with its own error model; claimbridge answers bad input with 400 and every
error with an ``OperationOutcome`` (:mod:`app.api.outcomes`). So each operation gets: 400 (bad
parameters or body), 401 (unless public, see :data:`app.api.security.PUBLIC_PATHS`), 403 (admin
operations: a token without the scope), 404 (operations with path parameters, and every one: an
unknown id), 413 (operations with a body), 429 (authenticated operations: too many wrong tokens) and
503 (temporarily unavailable), all with the ``OperationOutcome`` schema; the 422 entry goes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.outcomes import FHIR_JSON
from app.api.security import is_public

OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string"},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                },
            },
        },
    },
}
_REF = {"$ref": "#/components/schemas/OperationOutcome"}
DESCRIPTIONS = {
    "400": "Bad request (OperationOutcome)",
    "401": "Missing or invalid credential (OperationOutcome)",
    "403": "The token lacks the scope (OperationOutcome)",
    "404": "Not found (OperationOutcome)",
    "413": "Body too large or too deeply nested (OperationOutcome)",
    "415": "Content type not accepted (OperationOutcome)",
    "429": "Too many wrong credentials from this address (OperationOutcome)",
    "503": "Temporarily unavailable, retry (OperationOutcome)",
}


#: Success answers FastAPI cannot see (routes that build their Response themselves).
SUCCESS: dict[str, dict[str, dict[str, Any]]] = {
    "/notifications": {
        "200": {"description": "Received: a duplicate, handshake, heartbeat or ping (OperationOutcome)"},
        "202": {"description": "Accepted: events stored, jobs queued (OperationOutcome)"},
    },
}
MEDIA_TYPES = {"/.well-known/jwks.json": "application/jwk-set+json", "/api/audit": FHIR_JSON}


def _success(path: str, responses: dict[str, Any]) -> None:
    for prefix, answers in SUCCESS.items():
        if path.startswith(prefix):
            for code, answer in answers.items():
                responses[code] = {**answer, "content": {FHIR_JSON: {"schema": _REF}}}
    media = MEDIA_TYPES.get(path)
    if media and "200" in responses:
        responses["200"]["content"] = {media: {"schema": {"type": "object"}}}


def _outcome(code: str) -> dict[str, Any]:
    return {"description": DESCRIPTIONS[code], "content": {FHIR_JSON: {"schema": _REF}}}


def error_codes(path: str, method: str) -> list[str]:
    codes = ["400", "404", "503"]
    if not is_public(path):
        codes += ["401", "429"]
        if path.startswith(("/api", "/metrics")):
            codes.append("403")
    if method in ("post", "put", "patch"):
        codes += ["413", "415"]
    return codes


def complete(spec: dict[str, Any]) -> dict[str, Any]:
    spec.setdefault("components", {}).setdefault("schemas", {})["OperationOutcome"] = OUTCOME_SCHEMA
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            _success(path, responses)
            for code in error_codes(path, method):
                responses.setdefault(code, _outcome(code))
    schemas = spec["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with the completed description (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
            app.openapi_schema = complete(spec)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
