"""Errors toward FHIR clients: an OperationOutcome with the right status code."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

FHIR_JSON = "application/fhir+json"

ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    503: "transient",
}


class OutcomeError(Exception):
    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def operation_outcome(status: int, message: str, *, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": ISSUE_CODES.get(status, "processing"), "diagnostics": message}],
    }


def outcome_response(
    status: int, message: str, *, headers: dict[str, str] | None = None, severity: str = "error"
) -> Response:
    body = orjson.dumps(operation_outcome(status, message, severity=severity))
    return Response(body, status_code=status, media_type=FHIR_JSON, headers=headers)


async def outcome_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OutcomeError)
    return outcome_response(exc.status, exc.message, headers=exc.headers)


async def http_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return outcome_response(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


async def validation_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return outcome_response(400, f"invalid request at {where}: {first.get('msg', 'invalid')}")
