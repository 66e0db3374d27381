"""Eligibility, as plain data: a payer's endpoint, one request, one result, and what AAA codes mean.

Pure (no I/O). Both adapters of :mod:`app.eligibility` (FHIR ``CoverageEligibilityRequest/$submit``
and X12 270/271) produce the same :class:`EligibilityResult`; the store keeps it as a dict
(:meth:`EligibilityResult.to_dict`), the rules read those dicts from ``History.verifications``.

Statuses: ``active`` (the payer says the coverage is in force), ``inactive`` (it says it is not),
``error`` (the payer answered but refused the inquiry: a member, name, birth-date or provider
problem someone must fix), ``unverified`` (no usable answer: payer down, timed out, 5xx after the
retry policy, circuit open, queued).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from app.domain.tenancy import DEFAULT_EHR

STATUSES = ("active", "inactive", "error", "unverified")
#: Why a verification runs; part of its idempotency key (coverage, date of service, trigger).
TRIGGERS = ("coverage", "appointment", "day-before", "check-in", "finished", "manual")
#: Encounter statuses that mean the patient is at the desk (check-in).
CHECK_IN_STATUSES = frozenset({"arrived", "in-progress"})


@dataclass(frozen=True)
class EligibilityEndpoint:
    """The ``eligibility:`` section of a payer profile (see docs/eligibility.md)."""

    adapter: str  # fhir | x12
    fhir_base_url: str | None = None
    submit_path: str = "CoverageEligibilityRequest/$submit"
    x12_url: str | None = None
    auth: str = "none"  # none | smart-backend | oauth2-client-credentials
    token_url: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None  # name of the environment variable holding the secret
    key_path: str | None = None  # smart-backend signing key (PEM / JWKS file)
    scope: str | None = None
    timeout_seconds: float = 10.0
    max_attempts: int = 3
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 5.0
    max_retry_after_seconds: float = 30.0
    breaker_threshold: int = 5
    breaker_cooldown_seconds: float = 60.0
    concurrency: int = 16
    #: A claim of a visit with a verification under way is not batched until its answer is applied,
    #: or this long after the check was due; then it is ``unverified`` (a warning). 0: never wait.
    claim_wait_seconds: float = 600.0
    service_types: tuple[str, ...] = ("30",)  # X12 service type codes (30: health benefit plan coverage)
    x12_receiver_id: str | None = None  # ISA08/GS03 of the 270; default: the payer id


@dataclass(frozen=True)
class EligibilityRequest:
    """What one verification asks, read from the mirror (coverage, patient, payer, provider)."""

    coverage: str  # Coverage/<id>
    patient: str  # Patient/<id>
    payer_id: str
    payer_name: str
    service_date: date
    member_id: str | None = None
    family: str | None = None
    given: str | None = None
    birth_date: str | None = None  # YYYY-MM-DD
    gender: str | None = None
    provider_npi: str | None = None
    provider_name: str | None = None
    service_types: tuple[str, ...] = ("30",)
    codes: tuple[str, ...] = ()  # procedure codes known for the visit (items by service)
    trace: str = ""  # our reference for the inquiry (TRN02 / CoverageEligibilityRequest.identifier)


@dataclass(frozen=True)
class Benefit:
    """One benefit line: ``kind`` copay | coinsurance | deductible | out-of-pocket | limit | other."""

    kind: str
    service_type: str | None = None
    network: str | None = None  # in | out | None (both)
    level: str | None = None  # individual | family
    period: str | None = None  # visit | year | remaining | lifetime ...
    amount: float | None = None  # money allowed (a copay, a deductible, a limit)
    used: float | None = None  # money used so far (deductible met, out-of-pocket spent)
    remaining: float | None = None  # money left (a deductible or out-of-pocket remaining)
    percent: float | None = None  # coinsurance as a fraction (0.2 = 20 %)
    authorization_required: bool | None = None
    text: str | None = None


@dataclass(frozen=True)
class PayerError:
    """A refusal the payer gave (AAA in a 271, ``error`` in a CoverageEligibilityResponse)."""

    code: str
    text: str
    fix: str
    identity: bool = False  # member id / name / birth date: the front desk can fix it
    temporary: bool = False  # "unable to respond now": the result is unverified, not an error


@dataclass(frozen=True)
class EligibilityResult:
    status: str  # one of STATUSES
    coverage: str
    patient: str
    payer_id: str
    service_date: str  # YYYY-MM-DD
    checked_at: str  # ISO instant of the answer
    source: str  # fhir | x12 | none
    outcome: str | None = None  # the payer's words (disposition, plan description, AAA text)
    inforce: bool | None = None
    benefit_period: tuple[str | None, str | None] | None = None
    benefits: tuple[Benefit, ...] = ()
    errors: tuple[PayerError, ...] = ()
    other_payer: str | None = None  # COB hint: another payer named as primary / additional
    authorization_required: tuple[str, ...] = ()  # service types or codes the payer wants authorized
    reason: str | None = None  # why unverified (timeout, 503 after 3 attempts, circuit open ...)
    latency_seconds: float | None = None
    response_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EligibilityResult:
        values = dict(data)
        values["benefits"] = tuple(Benefit(**b) for b in data.get("benefits") or ())
        values["errors"] = tuple(PayerError(**e) for e in data.get("errors") or ())
        period = data.get("benefit_period")
        values["benefit_period"] = (period[0], period[1]) if period else None
        values["authorization_required"] = tuple(data.get("authorization_required") or ())
        return cls(**values)


def unverified(
    request: EligibilityRequest, *, reason: str, now: datetime, latency: float | None = None
) -> EligibilityResult:
    """The result of a verification that got no usable answer."""
    return EligibilityResult(
        status="unverified",
        coverage=request.coverage,
        patient=request.patient,
        payer_id=request.payer_id,
        service_date=request.service_date.isoformat(),
        checked_at=now.isoformat(),
        source="none",
        reason=reason,
        latency_seconds=latency,
    )


@dataclass(frozen=True)
class _Reject:
    what: str
    fix: str
    identity: bool = False
    temporary: bool = False


_MEMBER = "Check the member ID against the insurance card and correct Coverage.subscriberId / identifier."
_NAME = "Correct the patient's name (Patient.name) to match the insurance card exactly."
_DOB = "Correct the patient's date of birth (Patient.birthDate) to match the payer's records."
_FOUND = "Re-check member ID, name and date of birth against the card; the payer could not find the member."
_PROVIDER = "Check the billing/rendering NPI and the provider's enrolment with this payer."
#: AAA03 reject reasons we act on (our paraphrases, not the code list's texts).
AAA_REASONS: dict[str, _Reject] = {
    "42": _Reject("payer unable to respond now", "Re-verify later.", temporary=True),
    "80": _Reject("no response from the payer's system", "Re-verify later.", temporary=True),
    "41": _Reject("payer restricts access to this inquiry", _PROVIDER),
    "43": _Reject("provider identification not accepted", _PROVIDER),
    "44": _Reject("provider name not accepted", _PROVIDER),
    "50": _Reject("provider not eligible for inquiries", _PROVIDER),
    "51": _Reject("provider not on file with the payer", _PROVIDER),
    "58": _Reject("date of birth invalid or missing", _DOB, identity=True),
    "64": _Reject("patient ID invalid or missing", _MEMBER, identity=True),
    "65": _Reject("patient name invalid or missing", _NAME, identity=True),
    "67": _Reject("patient not found", _FOUND, identity=True),
    "71": _Reject("date of birth does not match the payer's records", _DOB, identity=True),
    "72": _Reject("member ID invalid or missing", _MEMBER, identity=True),
    "73": _Reject("subscriber name invalid or missing", _NAME, identity=True),
    "75": _Reject("subscriber not found", _FOUND, identity=True),
    "76": _Reject("duplicate member ID", _MEMBER, identity=True),
}


def payer_error(code: str, text: str | None = None) -> PayerError:
    """A payer refusal with what it means for the front desk (unknown codes: the payer's text)."""
    known = AAA_REASONS.get(code)
    if known is None:
        return PayerError(code=code, text=text or f"payer rejected the inquiry (code {code})",
                          fix="Read the payer's reason, correct the registration and re-verify.")  # fmt: skip
    return PayerError(code=code, text=text or known.what, fix=known.fix, identity=known.identity,
                      temporary=known.temporary)  # fmt: skip


@dataclass(frozen=True)
class CheckKey:
    """One verification to run: idempotent per (ehr, coverage, service_date, trigger)."""

    coverage: str
    service_date: date
    trigger: str
    patient: str
    payer_id: str
    due_at: datetime
    encounter: str | None = None
    appointment: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    ehr: str = DEFAULT_EHR  # the EHR whose mirror holds the coverage
    #: Planned again although already stored (the planner saw it): kept in the plan, never inserted again.
    known: bool = field(default=False, compare=False)


def _bound(value: str | None, *, last: bool) -> date | None:
    """A period bound as a day: FHIR dateTime may be ``YYYY`` or ``YYYY-MM`` (the first or last day of
    it); a bound that is no date at all is open (the payer's period is shown as written)."""
    if not value or not isinstance(value, str):
        return None
    try:
        if len(value) == 4:
            return date(int(value), 12, 31) if last else date(int(value), 1, 1)
        if len(value) == 7:
            year, month = int(value[:4]), int(value[5:7])
            start = date(year, month, 1)
            return (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)) if last else start
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def in_period(period: tuple[str | None, str | None] | list[str | None] | None, day: date) -> bool:
    """True when ``day`` lies in a benefit period (an open end is open; ``2026`` ends on 2026-12-31)."""
    if not period:
        return True
    start, end = _bound(period[0], last=False), _bound(period[1], last=True)
    return (start is None or start <= day) and (end is None or day <= end)
