"""One policy for every outbound HTTP call (EHR FHIR API, token endpoints, clearinghouse, payers).

:func:`classify` says what an answer means, the same way for every partner:

=========================================  ===============  ========================================
status                                     verdict          what the caller does
=========================================  ===============  ========================================
2xx                                        ``ok``           use the answer
1xx, 3xx (redirects are never followed)    ``fatal``        a misconfigured URL: a person fixes it
401 (first time)                           ``reauthorize``  drop the token, authorize again, resend once
401 (after re-authorizing)                 ``fatal``        an auth error: a person fixes credentials
408, 425, 429, 5xx except 501/505/511      ``temporary``    retry with :class:`app.retry.RetryPolicy`
any other 4xx, 501, 505, 511               ``fatal``        the request itself is wrong
=========================================  ===============  ========================================

:func:`parse_retry_after` reads ``Retry-After`` both ways RFC 9110 allows (delta-seconds or an
HTTP date). :func:`maybe_processed` says whether a failed non-idempotent request (a plain create)
may have been acted on, so it must not be resent blindly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Verdict(StrEnum):
    OK = "ok"
    TEMPORARY = "temporary"
    FATAL = "fatal"
    REAUTHORIZE = "reauthorize"


#: 4xx answers worth retrying: timeout, too early, too many requests.
TEMPORARY_4XX = frozenset({408, 425, 429})
#: 5xx answers that will not change on a retry: not implemented, HTTP version, network auth.
FATAL_5XX = frozenset({501, 505, 511})
#: Failures where the server certainly did not act: throttled, or unavailable before processing.
NOT_PROCESSED = frozenset({425, 429, 503})


def classify(status: int, *, reauthorized: bool = False) -> Verdict:
    """The verdict on one HTTP status; ``reauthorized`` is True once the caller already re-authorized."""
    if 200 <= status < 300:
        return Verdict.OK
    if status < 400:
        return Verdict.FATAL
    if status == 401:
        return Verdict.FATAL if reauthorized else Verdict.REAUTHORIZE
    if status in TEMPORARY_4XX or (status >= 500 and status not in FATAL_5XX):
        return Verdict.TEMPORARY
    return Verdict.FATAL


def maybe_processed(status: int | None) -> bool:
    """True when a failed request may still have been acted on (None: no answer after sending)."""
    return status not in NOT_PROCESSED


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_after_header(headers: object, *, now: datetime | None = None) -> float | None:
    """:func:`parse_retry_after` of a response's headers (any mapping with ``get``)."""
    get = getattr(headers, "get", None)
    return parse_retry_after(get("Retry-After") if get else None, now=now)
