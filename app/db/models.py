"""Tables. Every FHIR payload is a JSON column; nothing here knows FHIR structure beyond keys.

- ``subscription``  inbound subscriptions: sender secret (hashed), health, event counters.
- ``inbox``         raw notifications exactly as received (stored before the 2xx).
- ``job``           one unit of work per notification event; claimed with leases, retried, dead-lettered.
- ``resource``      the latest known version of each EHR resource (the mirror contexts are built from).
- ``claim`` / ``claim_version`` / ``finding``  claims, their immutable versions and findings.
- ``encounter_outcome``  how each evaluated encounter ended: its claim, or the findings saying why none.
- ``outbox``        side effects (write-back, clearinghouse) written in the same transaction as the claim.
- ``ehr``           registered EHRs: base URL, how to authenticate, what the server supports.
- ``subscription_gap``  missed events and silences found per subscription, and when they were repaired.

Clearinghouse (money is integer cents; ``claim_id`` is NULL where an answer matched no claim of ours):

- ``x12_control_number``  named counters (ISA13), incremented in the submitting transaction.
- ``submission_batch`` / ``claim_submission``  each 837P interchange and the claims (CLM01, ST02) in it.
- ``inbound_file``  every 999 / 277CA / 835 received, by content hash (idempotent), with its parse issues.
- ``inbound_failure``  inbound files whose ingestion failed (per source + name + hash), quarantined after N.
- ``ack_999`` / ``ack_277ca``  per-transaction and per-claim acknowledgements.
- ``remittance`` / ``claim_payment`` / ``payment_posting``  835 payments, claim adjudications, money posted.
- ``claim_response``  the ClaimResponse made from each answer (also written back to the EHR).
- ``denial_queue_entry`` / ``underpayment_alert``  work queues derived from 835 claim payments.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.domain.claim_status import ClaimStatus

JSONType = JSON().with_variant(JSONB(), "postgresql")


def json_col(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSONType, nullable=nullable))


class Subscription(SQLModel, table=True):
    __tablename__ = "subscription"

    id: str = Field(primary_key=True, max_length=200)
    ehr: str | None = Field(default=None, max_length=100)
    secret_sha256: str = Field(index=True, unique=True, max_length=64)
    signing_secret: str | None = Field(default=None, max_length=200)
    topic: str | None = None
    content: str | None = Field(default=None, max_length=20)
    status: str = Field(default="requested", max_length=20)  # requested | active | error | off
    health: str = Field(default="ok", max_length=20)
    events_since_start: int = 0
    heartbeat_period_seconds: int | None = None
    last_event_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    created_at: datetime
    # Gap tracking: every event number <= events_checked was received or recovered.
    events_checked: int | None = None
    gap_seen_at: datetime | None = None
    last_checked_at: datetime | None = None
    resource_types: str | None = Field(default=None, max_length=200)  # comma list, for notified pulls
    pulled_through: str | None = Field(default=None, max_length=40)  # EHR instant of the last pull
    sweep_until: datetime | None = None  # the worker sweeping it holds it until then (several workers)


class Inbox(SQLModel, table=True):
    __tablename__ = "inbox"
    # the unique (subscription_id, bundle_id) also serves lookups by subscription
    __table_args__ = (UniqueConstraint("subscription_id", "bundle_id", name="uq_inbox_bundle"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(max_length=200)
    bundle_id: str | None = Field(default=None, max_length=200)
    kind: str = Field(max_length=30)
    content_type: str | None = Field(default=None, max_length=100)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: datetime


class Job(SQLModel, table=True):
    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_claimable", "status", "available_at"),
        Index("ix_job_key_status", "key", "status"),
        Index("ix_job_subscription_event", "subscription_id", "event_number"),  # the gap sweep's range reads
    )

    id: int | None = Field(default=None, primary_key=True)
    inbox_id: int = Field(foreign_key="inbox.id", index=True)
    subscription_id: str = Field(max_length=200)
    dedupe_key: str | None = Field(default=None, max_length=400, unique=True)
    event_number: int | None = None
    key: str = Field(max_length=200)
    focus: str | None = Field(default=None, max_length=200)
    version_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    available_at: datetime
    locked_by: str | None = Field(default=None, max_length=100)
    locked_until: datetime | None = None
    last_error: str | None = None
    result: str | None = Field(default=None, max_length=200)
    created_at: datetime
    finished_at: datetime | None = None


class Resource(SQLModel, table=True):
    __tablename__ = "resource"

    key: str = Field(primary_key=True, max_length=200)
    resource_type: str = Field(max_length=64)
    version_id: str | None = Field(default=None, max_length=64)
    last_updated: str | None = Field(default=None, max_length=40)
    patient: str | None = Field(default=None, max_length=200, index=True)
    encounter: str | None = Field(default=None, max_length=200, index=True)
    body: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    updated_at: datetime


class Claim(SQLModel, table=True):
    __tablename__ = "claim"

    id: str = Field(primary_key=True, max_length=64)
    encounter: str = Field(max_length=200, index=True)
    patient: str | None = Field(default=None, max_length=200, index=True)
    payer_id: str | None = Field(default=None, max_length=100, index=True)
    status: str = Field(default=ClaimStatus.HELD, max_length=20, index=True)  # a ClaimStatus
    current_version: int = 1
    filing_deadline: date | None = None
    created_at: datetime
    updated_at: datetime
    patient_control_number: str | None = Field(default=None, max_length=20, unique=True, index=True)  # CLM01
    encounter_closed_at: datetime | None = None


class ClaimVersion(SQLModel, table=True):
    __tablename__ = "claim_version"
    __table_args__ = (UniqueConstraint("claim_id", "version", name="uq_claim_version"),)

    id: int | None = Field(default=None, primary_key=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=64, index=True)
    version: int
    fingerprint: str = Field(max_length=64)
    mapping_version: str | None = Field(default=None, max_length=100)
    config_hash: str | None = Field(default=None, max_length=64)
    resource: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    em: dict[str, Any] | None = json_col()
    source_job_id: int | None = None
    created_at: datetime


class FindingRow(SQLModel, table=True):
    __tablename__ = "finding"

    id: int | None = Field(default=None, primary_key=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=64, index=True)
    claim_version: int
    rule: str = Field(max_length=100, index=True)
    category: str = Field(max_length=40, index=True)
    severity: str = Field(max_length=10, index=True)
    message: str
    location: str = ""
    source: str | None = Field(default=None, max_length=200)
    fix: str = ""
    overridden_by: str | None = Field(default=None, max_length=100)
    override_reason: str | None = None
    overridden_at: datetime | None = None


class EncounterOutcomeRow(SQLModel, table=True):
    """One row per evaluated encounter, replaced on re-evaluation (``claim_id`` NULL: no claim)."""

    __tablename__ = "encounter_outcome"

    encounter: str = Field(primary_key=True, max_length=200)
    patient: str | None = Field(default=None, max_length=200, index=True)
    status: str | None = Field(default=None, max_length=30)  # Encounter.status
    outcome: str = Field(max_length=30, index=True)
    claim_id: str | None = Field(default=None, max_length=64, index=True)
    held: bool = False
    findings: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    fingerprint: str = Field(max_length=64)
    source_job_id: int | None = None
    created_at: datetime
    updated_at: datetime


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_claimable", "status", "destination", "available_at"),)

    id: int | None = Field(default=None, primary_key=True)
    destination: str = Field(max_length=50)
    kind: str = Field(max_length=50)
    key: str = Field(max_length=200)
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    available_at: datetime
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None


class Ehr(SQLModel, table=True):
    __tablename__ = "ehr"

    name: str = Field(primary_key=True, max_length=100)
    base_url: str = Field(max_length=500)
    auth: str = Field(default="none", max_length=20)  # none | smart-backend
    client_id: str | None = Field(default=None, max_length=200)
    key_path: str | None = Field(default=None, max_length=500)
    supports_events: bool = False
    plain_criteria: bool = False
    topics: dict[str, Any] | None = json_col()  # resource type -> SubscriptionTopic canonical
    missing_scopes: list[str] | None = json_col()  # what its last token lacked; NULL: none seen yet
    created_at: datetime


class SubscriptionGap(SQLModel, table=True):
    __tablename__ = "subscription_gap"
    __table_args__ = (Index("ix_gap_subscription_status", "subscription_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(max_length=200)
    kind: str = Field(max_length=20)  # events | silence
    first_number: int | None = None
    last_number: int | None = None
    status: str = Field(default="open", max_length=20)  # open | repaired | failed (recovery stopped)
    detected_at: datetime
    repaired_at: datetime | None = None
    attempts: int = 0
    failures: int = 0  # non-temporary recovery failures; at ``ehr.recovery_max_attempts`` the gap is ``failed``
    detail: str | None = Field(default=None, max_length=500)


def cents_col(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(BigInteger, nullable=nullable))


class X12ControlNumber(SQLModel, table=True):
    __tablename__ = "x12_control_number"

    name: str = Field(primary_key=True, max_length=40)
    last_value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class SubmissionBatch(SQLModel, table=True):
    __tablename__ = "submission_batch"

    id: int | None = Field(default=None, primary_key=True)
    interchange_control_number: int = Field(unique=True, index=True)
    file_name: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    destination: str = Field(max_length=50)
    claim_count: int
    line_count: int
    total_charge_cents: int = cents_col(nullable=False)
    transactions: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))  # ST02 -> CLM01s
    created_at: datetime


class ClaimSubmission(SQLModel, table=True):
    __tablename__ = "claim_submission"
    __table_args__ = (UniqueConstraint("batch_id", "claim_id", name="uq_claim_submission"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="submission_batch.id", index=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=64, index=True)
    claim_version: int
    patient_control_number: str = Field(max_length=20, index=True)
    transaction_control_number: str = Field(max_length=9)
    charge_cents: int = cents_col(nullable=False)
    service_date: date | None = None
    ack_999: str | None = Field(default=None, max_length=20)  # accepted | rejected
    ack_999_at: datetime | None = None
    ack_277ca: str | None = Field(default=None, max_length=20)  # accepted | rejected | other
    ack_277ca_at: datetime | None = None
    submitted_at: datetime


class InboundFile(SQLModel, table=True):
    __tablename__ = "inbound_file"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=300)
    source: str = Field(max_length=30)  # cli | folder | http
    kind: str = Field(max_length=20)  # 999 | 277CA | 835 | unsupported
    content: str = Field(sa_column=Column(Text, nullable=False))
    parse_issues: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    outcome: dict[str, Any] | None = json_col()  # matched / unmatched counts
    received_at: datetime


class InboundFailure(SQLModel, table=True):
    """An inbound file the ingester failed on (no content kept: the error's class and a PHI-free message)."""

    __tablename__ = "inbound_failure"
    __table_args__ = (UniqueConstraint("source", "name", "sha256", name="uq_inbound_failure"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=30)  # folder | http
    name: str = Field(max_length=300)
    sha256: str = Field(max_length=64)
    handle: str = Field(max_length=500)  # where the source finds it (quarantine file name, API id)
    status: str = Field(default="failing", max_length=20, index=True)  # failing | quarantined | released
    attempts: int = 0
    error_class: str = Field(max_length=100)
    error: str = Field(max_length=500)
    first_failed_at: datetime
    last_failed_at: datetime
    quarantined_at: datetime | None = None
    released_at: datetime | None = None
    released_by: str | None = Field(default=None, max_length=100)


class Ack999(SQLModel, table=True):
    __tablename__ = "ack_999"

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(foreign_key="inbound_file.id", index=True)
    batch_id: int | None = Field(default=None, foreign_key="submission_batch.id", index=True)
    group_control_number: str = Field(max_length=9)
    transaction_control_number: str = Field(max_length=9)
    status: str | None = Field(default=None, max_length=2)
    accepted: bool
    errors: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime


class Ack277ca(SQLModel, table=True):
    __tablename__ = "ack_277ca"

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(foreign_key="inbound_file.id", index=True)
    claim_id: str | None = Field(default=None, foreign_key="claim.id", max_length=64, index=True)
    patient_control_number: str = Field(max_length=40)
    payer_claim_control_number: str = Field(default="", max_length=50)
    disposition: str = Field(max_length=20)
    statuses: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime


class Remittance(SQLModel, table=True):
    __tablename__ = "remittance"

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(foreign_key="inbound_file.id", index=True)
    transaction_control_number: str = Field(max_length=9)
    payer_id: str = Field(default="", max_length=80)
    payer_name: str = Field(default="", max_length=100)
    payment_cents: int | None = cents_col()
    payment_method: str = Field(default="", max_length=3)
    payment_date: date | None = None
    trace_number: str = Field(default="", max_length=50)
    reconciliation: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))  # PaymentReconciliation
    claims_paid_cents: int | None = cents_col()  # sum of CLP04
    provider_adjustment_cents: int | None = cents_col()  # sum of PLB amounts (they reduce the payment)
    provider_adjustments: list[dict[str, Any]] | None = json_col()  # PLB: provider, period, reason, reference, amount
    # BPR02 == claims paid - provider adjustments; None when the 835 carries no payment amount
    balanced: bool | None = None
    created_at: datetime


class ClaimPaymentRow(SQLModel, table=True):
    __tablename__ = "claim_payment"

    id: int | None = Field(default=None, primary_key=True)
    remittance_id: int = Field(foreign_key="remittance.id", index=True)
    claim_id: str | None = Field(default=None, foreign_key="claim.id", max_length=64, index=True)
    patient_control_number: str = Field(max_length=40, index=True)
    payer_id: str = Field(default="", max_length=80)
    status: str = Field(max_length=3)  # CLP02
    charge_cents: int | None = cents_col()
    paid_cents: int | None = cents_col()
    patient_responsibility_cents: int | None = cents_col()
    contractual_cents: int = cents_col(nullable=False)
    denied: bool = False
    denied_cents: int = cents_col(nullable=False)
    denial_categories: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    payer_claim_control_number: str = Field(default="", max_length=50)
    detail: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))  # lines, adjustments, problems
    adjudicated_on: date
    created_at: datetime


class PaymentPosting(SQLModel, table=True):
    __tablename__ = "payment_posting"

    id: int | None = Field(default=None, primary_key=True)
    claim_payment_id: int = Field(foreign_key="claim_payment.id", unique=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=64, index=True)
    amount_cents: int = cents_col(nullable=False)
    posted_on: date
    created_at: datetime


class ClaimResponseRow(SQLModel, table=True):
    __tablename__ = "claim_response"

    id: int | None = Field(default=None, primary_key=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=64, index=True)
    file_id: int = Field(foreign_key="inbound_file.id", index=True)
    source: str = Field(max_length=10)  # 999 | 277CA | 835
    outcome: str = Field(max_length=20)
    resource: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime


class DenialQueueEntry(SQLModel, table=True):
    __tablename__ = "denial_queue_entry"
    __table_args__ = (Index("ix_denial_category_payer", "category", "payer_id"),)

    id: int | None = Field(default=None, primary_key=True)
    claim_payment_id: int = Field(foreign_key="claim_payment.id", index=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=64, index=True)
    patient_control_number: str = Field(max_length=40)
    payer_id: str = Field(max_length=80)
    category: str = Field(max_length=40)
    carcs: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    remark_codes: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    amount_cents: int = cents_col(nullable=False)
    lines: list[int | None] = Field(sa_column=Column(JSONType, nullable=False))
    whole_claim: bool
    scrubbing: str = Field(max_length=20)  # flagged | passed | not-covered
    expected_by: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    findings: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    documentation: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    status: str = Field(default="open", max_length=20)  # open | appealed | corrected | written-off | closed
    worked_by: str | None = Field(default=None, max_length=200)
    worked_at: datetime | None = None
    note: str | None = None
    created_at: datetime


class UnderpaymentAlert(SQLModel, table=True):
    __tablename__ = "underpayment_alert"

    id: int | None = Field(default=None, primary_key=True)
    claim_payment_id: int = Field(foreign_key="claim_payment.id", index=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=64, index=True)
    payer_id: str = Field(max_length=80, index=True)
    line: int
    procedure: str = Field(max_length=10)
    modifiers: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    expected_cents: int = cents_col(nullable=False)
    actual_cents: int = cents_col(nullable=False)
    shortfall_cents: int = cents_col(nullable=False)
    basis: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    status: str = Field(default="open", max_length=20)  # open | disputed | recovered | accepted | closed
    worked_by: str | None = Field(default=None, max_length=200)
    worked_at: datetime | None = None
    note: str | None = None
    created_at: datetime


class EligibilityCheck(SQLModel, table=True):
    """One real-time eligibility verification (app.eligibility): due, running, then its stored result.

    Idempotent per (coverage, service_date, trigger); ``result`` is an ``EligibilityResult`` dict.
    """

    __tablename__ = "eligibility_check"
    __table_args__ = (
        UniqueConstraint("coverage", "service_date", "trigger", name="uq_eligibility_check_key"),
        Index("ix_eligibility_check_due", "status", "due_at"),
        Index("ix_eligibility_check_reevaluation", "status", "reevaluated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    coverage: str = Field(max_length=200, index=True)
    service_date: date
    trigger: str = Field(max_length=20)
    patient: str = Field(max_length=200, index=True)
    payer_id: str = Field(max_length=100)
    encounter: str | None = Field(default=None, max_length=200)
    appointment: str | None = Field(default=None, max_length=200)
    status: str = Field(default="pending", max_length=20)  # pending | running | done | skipped
    due_at: datetime
    locked_until: datetime | None = None
    attempts: int = 0
    result_status: str | None = Field(default=None, max_length=20)  # active | inactive | error | unverified
    result: dict[str, Any] | None = json_col()
    checked_at: datetime | None = None
    latency_seconds: float | None = None
    source: str | None = Field(default=None, max_length=10)
    reevaluated_at: datetime | None = None  # the claims were re-evaluated with this result
    created_at: datetime
    updated_at: datetime
