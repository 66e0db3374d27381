"""The worker's error tree. Only temporary errors are retried.

    JobError
     ├── TemporaryJobError    retried with exponential backoff and jitter (EHR 5xx/429, database busy)
     └── FatalJobError        dead-lettered at once (invalid resource, nothing to fetch from, a bug)

:func:`is_temporary` classifies any exception the pipeline raised, including library ones.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

from app.fhir.errors import TemporaryFhirError


class JobError(Exception):
    """A job could not be processed."""


class TemporaryJobError(JobError):
    """Worth retrying later."""


class FatalJobError(JobError):
    """Retrying will not help; needs a fix, then a replay."""


def is_temporary(exc: BaseException) -> bool:
    if isinstance(exc, TemporaryJobError):
        return True
    if isinstance(exc, FatalJobError):
        return False
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TemporaryFhirError | TimeoutError | ConnectionError)
