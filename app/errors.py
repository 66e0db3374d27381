"""The one error tree: every error claimbridge raises on purpose descends from :class:`ClaimbridgeError`.

Callers decide from the class alone. A :class:`TemporaryError` may succeed later unchanged (it is
retried, at least ``retry_after`` seconds later when the other side said so); a :class:`FatalError`
will not succeed without a change (dead letter, a 4xx answer, a one-line CLI error with exit 2).

::

    ClaimbridgeError                      root; str() is one line, never a resource body (no PHI)
     ├── TemporaryError                   retried with backoff; ``retry_after`` (seconds) or None
     │    ├── TemporaryFhirError          app.fhir.errors: EHR 5xx / 408 / 425, maybe processed
     │    │    ├── RateLimited            429
     │    │    └── FhirNetworkError       no HTTP answer (connect / read / pool timeouts)
     │    ├── TemporaryDeliveryError      app.adapters.base: an outbox delivery to retry
     │    ├── TemporaryJobError           app.worker.errors: e.g. the EHR answered an older version
     │    ├── PayerUnavailable            app.eligibility.errors: payer timeout / 408 / 429 / 5xx
     │    ├── LeaseLost                   app.db.queue_repo: another worker holds the job now
     │    └── MigrationBusy               app.db.migrate: start-up waited too long for another's migration
     └── FatalError                       retrying unchanged will not help
          ├── FatalFhirError              app.fhir.errors: 4xx from an EHR
          │    ├── ResourceGone           404 / 410
          │    ├── AuthError              401 after one re-authorization, 403, token refused
          │    ├── VersionConflict        409 / 412
          │    └── InvalidFhirResponse    not the FHIR JSON expected, a next link off-origin
          ├── FatalDeliveryError          app.adapters.base: the destination refused the delivery
          ├── FatalJobError               app.worker.errors: nothing to fetch from, unreadable input
          ├── UnknownEhr                  app.ehr.gateway: a subscription names an unregistered EHR
          ├── InvalidResource             app.fhir.r4: an inbound resource is not valid R4
          ├── InvalidNotification         app.intake.notification: not a notification we accept
          ├── ConfigError                 here: a configuration or reference-data file: file:line: field: problem
          │    └── UnknownAdapter         app.adapters.registry: an adapter name nobody registered
          ├── RegistryError               app.rules.registry: a rule registered twice or badly
          ├── ExpressionError             app.mappers.fhirpath: a FHIRPath that does not compile
          ├── TransformError              app.mappers.transforms: an unknown or misused transform
          ├── SubscriptionSpecError       app.fhir.subscriptions: a Subscription we cannot build
          ├── SubscriptionConflict        app.db.subscriptions_repo
          ├── KeyFileError                app.fhir.keys: a signing key that cannot be read
          ├── PayerRefused                app.eligibility.errors: the payer refused the request (4xx, auth)
          ├── InvalidPayerResponse        app.eligibility.errors: not a CoverageEligibilityResponse / 271
          ├── NothingToVerify             app.eligibility.duty: a manual check with no coverage or endpoint
          ├── X12Error                    app.x12.errors
          │    ├── GuideViolation         a 005010X222A1 invariant broken
          │    ├── X12BuildError          a claim refused before any of it was written
          │    └── MissingPart            app.x12.fhir_parts: the FHIR claim lacks a needed part
          ├── IllegalTransition           app.domain.claim_status: a status change the lifecycle forbids
          ├── UnknownClaim                app.db.claims_repo: a transition for a claim that does not exist
          ├── ControlNumberError          app.billing.control_file
          ├── ControlNumbersExhausted     app.db.billing_repo
          ├── OutcomeError                app.api.outcomes: an HTTP answer already decided (status)
          └── CliError                    app.cli.common

Errors that were ``ValueError``/``LookupError`` before keep that base too, so ``except ValueError``
around parsing still works. Three readers of this tree, each in one place: the worker's retry
decision (:func:`is_temporary`, :func:`retry_after_of`), the API's OperationOutcome mapping
(:func:`app.api.outcomes.claimbridge_error_handler`) and the CLI (:func:`app.cli.common.handles_errors`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

#: PostgreSQL SQLSTATE of a unique violation (a concurrent insert of the same key won the race).
UNIQUE_VIOLATION = "23505"


class ClaimbridgeError(Exception):
    """Root of every error claimbridge raises on purpose."""

    #: Seconds the other side asked us to wait before trying again (Retry-After); None when unknown.
    retry_after: float | None = None


class TemporaryError(ClaimbridgeError):
    """May succeed if tried again later, unchanged."""

    #: False when nothing was sent: the other side's earlier Retry-After still holds (work deferred,
    #: not failed; a job's attempt is not counted, so a long throttle does not dead-letter it).
    attempted: bool = True

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(ClaimbridgeError):
    """Will not succeed if retried unchanged: needs a fix (then a replay)."""


class ConfigError(FatalError, ValueError):
    """A configuration file that cannot be used. ``str()`` is one line: ``file:line: field: problem``.

    Here, not in :mod:`app.config`, because reference data, mappings and rules raise it too while the
    configuration loader imports them.
    """

    def __init__(self, path: Path | str, line: int | None, field: str | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        where = f"{self.path}:{line}" if line else self.path
        what = f"{field}: " if field else ""
        super().__init__(f"{where}: {what}{problem}")


def is_temporary(exc: BaseException) -> bool:
    """The worker's retry decision: our tree first, then the few library errors that are transient.

    Database connectivity (``OperationalError``, an invalidated connection), timeouts, broken
    connections and a PostgreSQL unique violation (a concurrent transaction inserted the same key
    first; the retry reads it) are temporary; anything else unknown is a bug and fatal (dead
    letter, with its reason).
    """
    if isinstance(exc, ClaimbridgeError):
        return isinstance(exc, TemporaryError)
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, IntegrityError) and getattr(exc.orig, "sqlstate", None) == UNIQUE_VIOLATION:
        return True  # another transaction inserted the same key first (two workers, one new shared row): retry finds it
    return isinstance(exc, TimeoutError | ConnectionError)


def retry_after_of(exc: BaseException) -> float | None:
    """The wait a temporary error carries (the server's Retry-After), or None."""
    if isinstance(exc, TemporaryError) and exc.retry_after is not None and exc.retry_after > 0:
        return exc.retry_after
    return None
