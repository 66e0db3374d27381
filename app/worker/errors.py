"""The worker's branch of the error tree (:mod:`app.errors`), for conditions only a job can meet.

    TemporaryJobError    a TemporaryError: e.g. the EHR answered an older version than it notified
    FatalJobError        a FatalError: nothing to fetch from, a stored notification unreadable

Whether a failure is retried is decided once, by :func:`app.errors.is_temporary`, for these and for
every other error the pipeline may raise.
"""

from __future__ import annotations

from app.errors import FatalError, TemporaryError


class TemporaryJobError(TemporaryError):
    """Worth retrying later."""


class FatalJobError(FatalError):
    """Retrying will not help; needs a fix, then a replay."""
