"""Why intake refuses a notification (one line each; the HTTP edge answers with an OperationOutcome)."""

from __future__ import annotations

from app.errors import FatalError


class InvalidNotification(FatalError, ValueError):
    """The body is not an acceptable notification; the message says why (one line). HTTP 400."""

    status = 400


class TooManyEvents(InvalidNotification):
    """More notification events than one notification may carry (``intake.max_events``). HTTP 413."""

    status = 413


class BodyTooLarge(InvalidNotification):
    """JSON nested deeper than ``security.max_json_depth`` or an array over ``security.max_json_array_items``
    (the request limits of every endpoint, checked at intake on the one parse of the body). HTTP 413."""

    status = 413


__all__ = ["BodyTooLarge", "InvalidNotification", "TooManyEvents"]
