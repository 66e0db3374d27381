"""Errors of the payer adapters (subclasses of the one tree in :mod:`app.errors`)."""

from __future__ import annotations

from app.errors import FatalError, TemporaryError


class PayerUnavailable(TemporaryError):
    """The payer did not answer usefully now: timeout, connection refused, 408/429/5xx."""


class PayerRefused(FatalError):
    """The payer refused the request itself (4xx, auth): a person must fix configuration.

    ``words``: what the payer said (an OperationOutcome's issues), kept apart from the message so that
    the stored result shows it and logs never carry it (a payer may echo the patient's details).
    """

    def __init__(self, message: str = "", *, words: str | None = None) -> None:
        super().__init__(message)
        self.words = words


class InvalidPayerResponse(FatalError, ValueError):
    """The answer is not the CoverageEligibilityResponse / 271 we asked for (``words``: as above)."""

    def __init__(self, message: str = "", *, words: str | None = None) -> None:
        super().__init__(message)
        self.words = words
