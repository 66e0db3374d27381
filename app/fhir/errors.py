"""The FHIR branch of the error tree (:mod:`app.errors`): calls to an EHR's FHIR API or token endpoint.

Callers decide what to do from the class alone: a temporary error may succeed later (the client
already retried it a bounded number of times), a fatal one will not succeed without a change.
Which status is which comes from the one HTTP policy (:func:`app.http_policy.classify`).

::

    FhirError                       base: status (or None), message, outcome, url
     ├── TemporaryFhirError         also a TemporaryError: 408, 425, 5xx, network errors, timeouts
     │    ├── RateLimited           429 (retry_after from the server)
     │    └── FhirNetworkError      no HTTP answer: connect / read / write / pool timeouts
     └── FatalFhirError             also a FatalError: the request itself is wrong (4xx)
          ├── ResourceGone          404 / 410: the resource does not exist (any more)
          ├── AuthError             401 / 403, or the token endpoint refused us (invalid_client ...)
          ├── VersionConflict       409 / 412: If-Match on a stale version, duplicate conditional match
          └── InvalidFhirResponse   the answer is not the FHIR JSON we asked for, or a next link
                                    points away from the server's origin

``message`` comes from the server's OperationOutcome (``issue.diagnostics`` or
``issue.details.text``) when it sent one. ``retry_after`` (seconds) is set when the server said
when to come back (``Retry-After``, as seconds or an HTTP date). Messages never carry resource
bodies (no PHI): only the status, the server's diagnostics and the request's method and path.
"""

from __future__ import annotations

from typing import Any

from app.errors import ClaimbridgeError, FatalError, TemporaryError
from app.http_policy import Verdict, classify, maybe_processed


class FhirError(ClaimbridgeError):
    """Any failure talking to a FHIR server."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        outcome: dict[str, Any] | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.outcome = outcome
        self.url = url
        self.retry_after = retry_after


class TemporaryFhirError(FhirError, TemporaryError):
    """May succeed if tried again later (408, 425, 429, 5xx, network)."""

    #: True when the server may have acted on the request before failing (read timeouts, 500/502/504);
    #: non-idempotent requests (plain create) are then not retried.
    maybe_processed: bool = True


class RateLimited(TemporaryFhirError):
    """429 Too Many Requests."""

    maybe_processed = False


class FhirNetworkError(TemporaryFhirError):
    """No HTTP answer at all (connection refused, timeouts, broken connection)."""


class FatalFhirError(FhirError, FatalError):
    """Will not succeed if retried unchanged (4xx)."""


class ResourceGone(FatalFhirError):
    """404 Not Found or 410 Gone."""


class AuthError(FatalFhirError):
    """401/403 from the FHIR API after one re-authorization, or a refusal by the token endpoint."""


class VersionConflict(FatalFhirError):
    """409 Conflict or 412 Precondition Failed (stale If-Match, ambiguous conditional create)."""


class InvalidFhirResponse(FatalFhirError):
    """The server answered something that is not the FHIR JSON expected."""


def outcome_message(body: Any) -> str | None:
    """The human-readable text of an OperationOutcome (issues joined by ``"; "``), if any."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return None
    texts: list[str] = []
    for issue in body.get("issue") or ():
        if not isinstance(issue, dict):
            continue
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
        if not text:
            text = issue.get("code")
        if text:
            texts.append(str(text))
    return "; ".join(texts)[:500] or None


def error_for_status(
    status: int,
    *,
    body: Any,
    where: str,
    retry_after: float | None = None,
) -> FhirError:
    """Map an HTTP error status (and its OperationOutcome body) to the error tree."""
    detail = outcome_message(body)
    message = f"{where} -> HTTP {status}" + (f": {detail}" if detail else "")
    outcome = body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None
    kwargs: dict[str, Any] = {"status": status, "outcome": outcome, "url": where, "retry_after": retry_after}
    if status == 429:
        return RateLimited(message, **kwargs)
    if classify(status, reauthorized=True) is Verdict.TEMPORARY:
        error = TemporaryFhirError(message, **kwargs)
        error.maybe_processed = maybe_processed(status)
        return error
    if status in (404, 410):
        return ResourceGone(message, **kwargs)
    if status in (401, 403):
        return AuthError(message, **kwargs)
    if status in (409, 412):
        return VersionConflict(message, **kwargs)
    return FatalFhirError(message, **kwargs)
