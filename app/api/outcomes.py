"""Errors toward FHIR clients: an OperationOutcome with the right status code.

The API's one reading of the error tree (:mod:`app.errors`), in :func:`status_for`: an
:class:`OutcomeError` carries the answer already decided; a :class:`~app.errors.TemporaryError` is
503 with ``Retry-After``; input the caller sent that we cannot use is 400/409/422; any other
:class:`~app.errors.FatalError` that escapes a route is a 500 (logged, message without bodies).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.db.subscriptions_repo import SubscriptionConflict
from app.errors import ClaimbridgeError, FatalError, TemporaryError
from app.fhir.r4 import InvalidResource
from app.intake.notification import InvalidNotification
from app.logging import get_logger
from app.x12.errors import X12Error

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
    429: "throttled",
    500: "exception",
    503: "transient",
}


class OutcomeError(FatalError):
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


#: Fatal errors that mean "the request was wrong", by the status they answer (first match wins).
INPUT_ERRORS: tuple[tuple[type[FatalError], int], ...] = (
    (InvalidNotification, 400),
    (InvalidResource, 422),
    (SubscriptionConflict, 409),
    (X12Error, 422),
)
log = get_logger("claimbridge.api")


def status_for(exc: ClaimbridgeError) -> int:
    if isinstance(exc, OutcomeError):
        return exc.status
    if isinstance(exc, TemporaryError):
        return 503
    return next((status for cls, status in INPUT_ERRORS if isinstance(exc, cls)), 500)


async def claimbridge_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClaimbridgeError)
    status = status_for(exc)
    if isinstance(exc, OutcomeError):
        return outcome_response(status, exc.message, headers=exc.headers)
    headers = {"Retry-After": str(max(1, round(exc.retry_after or 1)))} if status == 503 else None
    if status >= 500:
        log.error("api.error", error=type(exc).__name__, status=status)
    return outcome_response(status, str(exc) or type(exc).__name__, headers=headers)


async def http_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return outcome_response(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


DIRECT_ROUTE = "claimbridge.direct_route"  # the path template of an endpoint served without the router


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    """Anything no other handler took: 500 as an OperationOutcome; the log names the class only."""
    route = getattr(request.scope.get("route"), "path", None) or request.scope.get(DIRECT_ROUTE)
    log.error("api.unhandled", error=type(exc).__name__, route=route, method=request.method)
    return outcome_response(500, "internal error")


async def validation_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return outcome_response(400, f"invalid request at {where}: {first.get('msg', 'invalid')}")
