"""Tables. Every FHIR payload is a JSON column; nothing here knows FHIR structure beyond keys.

- ``subscription``  inbound subscriptions: sender secret (hashed), health, event counters; the id is unique
  per EHR (``fhir_id`` with ``ehr``), ``id`` the internal key the other tables refer to.
- ``inbox``         raw notifications exactly as received (stored before the 2xx).
- ``job``           one unit of work per notification event; claimed with leases, retried, dead-lettered.
- ``resource``      the latest known version of each EHR resource (the mirror contexts are built from).
  Identity is per EHR: ``resource``, ``job``, ``claim`` and ``encounter_outcome`` carry ``ehr``
  (:mod:`app.domain.tenancy`).
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
- ``claim_ledger_entry``  money on a claim outside 835 claim payments: patient payments (API, CSV
  import) and 835 provider-level adjustments (PLB) that name the claim.
- ``claim_response``  the ClaimResponse made from each answer (also written back to the EHR).
- ``denial_queue_entry`` / ``underpayment_alert``  work queues derived from 835 claim payments.

Security: ``credential_failure``  wrong credentials counted per throttle scope and key, shared by
every API process (:mod:`app.throttle`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.domain.claim_status import ClaimStatus
from app.domain.tenancy import DEFAULT_EHR

JSONType = JSON().with_variant(JSONB(), "postgresql")


def json_col(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSONType, nullable=nullable))


class Subscription(SQLModel, table=True):
    __tablename__ = "subscription"
    # the id is unique per EHR; ``id`` is the internal key every other table refers to (ADR "subscriptions per EHR")
    __table_args__ = (UniqueConstraint("ehr", "fhir_id", name="uq_subscription_ehr_fhir_id"),)

    id: str = Field(primary_key=True, max_length=200)
    fhir_id: str = Field(max_length=200)  # the Subscription's id at the EHR (what notifications and $status name)
    ehr: str | None = Field(default=None, max_length=100)
    secret_sha256: str = Field(index=True, unique=True, max_length=64)
    signing_secret: str | None = Field(default=None, max_length=200)
    topic: str | None = None
    content: str | None = Field(default=None, max_length=20)
    status: str = Field(default="requested", max_length=20)  # requested | active | error | off
    health: str = Field(default="ok", max_length=20)
    events_since_start: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))  # integer64
    heartbeat_period_seconds: int | None = None
    last_event_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    created_at: datetime
    # Gap tracking: every event number <= events_checked was received or recovered.
    events_checked: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    gap_seen_at: datetime | None = None
    last_checked_at: datetime | None = None
    resource_types: str | None = Field(default=None, max_length=200)  # comma list, for notified pulls
    pulled_through: str | None = Field(default=None, max_length=40)  # EHR instant of the last pull
    sweep_until: datetime | None = None  # the worker sweeping it holds it until then (several workers)


class Inbox(SQLModel, table=True):
    __tablename__ = "inbox"
    # the unique (subscription_id, bundle_id) also serves lookups by subscription
    __table_args__ = (
        UniqueConstraint("subscription_id", "bundle_id", name="uq_inbox_bundle"),
        Index("uq_inbox_dedupe_key", "dedupe_key", unique=True),
        Index("ix_inbox_status", "status", "id"),  # the expansion duty's claim of pending rows
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(max_length=200)
    bundle_id: str | None = Field(default=None, max_length=200)
    kind: str = Field(max_length=30)
    content_type: str | None = Field(default=None, max_length=100)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: datetime
    # ADR "intake stores the inbox row only": the request stores the row ``pending`` with the jobs it
    # stands for (``events``: JSON, computed by the request); the worker's expansion duty turns them into
    # jobs and marks the row ``expanded`` (``dead`` with ``last_error`` if that fails).
    status: str = Field(default="pending", max_length=20)
    ehr: str = Field(default=DEFAULT_EHR, max_length=100)
    # the one dedupe key of a one-event notification: a second copy conflicts at the insert (200)
    dedupe_key: str | None = Field(default=None, max_length=400)
    events: str | None = None
    last_error: str | None = None


class InboxKey(SQLModel, table=True):
    """The dedupe keys of a multi-event inbox row while it waits for expansion (ADR 0018).

    A one-event row holds its key in ``inbox.dedupe_key``; a row with several events puts each new
    event's key here, so a later notification re-sending one of them is answered 200 (duplicate) by
    an index probe. Deleted when the row is expanded (its jobs hold the keys then) or dies.
    """

    __tablename__ = "inbox_key"

    dedupe_key: str = Field(primary_key=True, max_length=400)
    inbox_id: int = Field(foreign_key="inbox.id", index=True)


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
    ehr: str = Field(default=DEFAULT_EHR, max_length=100)  # the sender's EHR (app.domain.tenancy)
    dedupe_key: str | None = Field(default=None, max_length=400, unique=True)
    event_number: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # integer64
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

    ehr: str = Field(default=DEFAULT_EHR, primary_key=True, max_length=100)  # identity is per EHR
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
    ehr: str = Field(default=DEFAULT_EHR, max_length=100)
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
    hold: bool = False  # a warning the rule sets hold the claim for, until acknowledged (overridden)


class EncounterOutcomeRow(SQLModel, table=True):
    """One row per evaluated encounter, replaced on re-evaluation (``claim_id`` NULL: no claim)."""

    __tablename__ = "encounter_outcome"

    ehr: str = Field(default=DEFAULT_EHR, primary_key=True, max_length=100)
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
    first_number: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_number: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
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
    counted: bool = True  # False: a repeat of an answer already posted (each is posted exactly once)
    reverses_id: int | None = Field(default=None)  # the claim_payment a reversal (CLP02 22) negates


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


# People's side (app/web): console accounts, browser sessions, SMART app registrations, the audit trail,
# and the indexes the console's messages browser pages by key with.


class ConsoleUser(SQLModel, table=True):
    __tablename__ = "console_user"

    name: str = Field(primary_key=True, max_length=100)
    password_hash: str = Field(max_length=300)  # argon2id
    role: str = Field(max_length=20)  # viewer | engineer | admin
    disabled: bool = False
    created_at: datetime


class WebSession(SQLModel, table=True):
    """A browser session (console sign-in, SMART launch in progress, SMART user); ``id`` is the token's SHA-256."""

    __tablename__ = "web_session"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=20)  # console | smart-pending | smart
    subject: str | None = Field(default=None, max_length=300)  # console user name or the SMART fhirUser
    role: str | None = Field(default=None, max_length=20)
    csrf: str = Field(max_length=64)
    data: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))  # server-side only (tokens stay here)
    created_at: datetime
    expires_at: datetime = Field(index=True)


class SmartApp(SQLModel, table=True):
    """How the SMART app signs in at one registered EHR (``claimbridge ehrs add --smart-client-id``)."""

    __tablename__ = "smart_app"

    ehr: str = Field(primary_key=True, max_length=100)
    client_id: str = Field(max_length=200)
    client_secret: str | None = Field(default=None, max_length=1000)  # confidential client, ``fernet:...``
    key_path: str | None = Field(default=None, max_length=500)  # private_key_jwt
    scopes: str = Field(max_length=1000)
    created_at: datetime


class AuditEventRow(SQLModel, table=True):
    """Append-only: who viewed a raw payload, overrode a finding, replayed, changed configuration."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_recorded", "recorded_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    recorded_at: datetime
    actor: str = Field(max_length=300)
    actor_kind: str = Field(max_length=20)  # console | smart | api | cli
    action: str = Field(max_length=40, index=True)  # one of app.db.audit_repo.ACTIONS
    entity: str = Field(max_length=300)
    outcome: str = Field(default="success", max_length=10)
    detail: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))


# keyset pages of the messages browser (newest first, optionally filtered)
Index("ix_job_status_id", Job.__table__.c.status, Job.__table__.c.id)  # type: ignore[attr-defined]
Index("ix_job_created", Job.__table__.c.created_at)  # type: ignore[attr-defined]
Index("ix_inbox_received", Inbox.__table__.c.received_at)  # type: ignore[attr-defined]
Index("ix_outbox_key", Outbox.__table__.c.key)  # type: ignore[attr-defined]
Index("ix_outbox_status_id", Outbox.__table__.c.status, Outbox.__table__.c.id)  # type: ignore[attr-defined]


class ClaimLedgerEntry(SQLModel, table=True):
    """Patient payments and claim-naming PLB adjustments; ``(source, reference)`` makes imports idempotent."""

    __tablename__ = "claim_ledger_entry"
    __table_args__ = (UniqueConstraint("source", "reference", name="uq_claim_ledger_source_reference"),)

    id: int | None = Field(default=None, primary_key=True)
    claim_id: str = Field(foreign_key="claim.id", max_length=64, index=True)
    kind: str = Field(max_length=30)  # patient-payment | provider-adjustment
    payer_id: str = Field(default="", max_length=80)  # the 835's payer for a PLB; "" for the patient
    amount_cents: int = cents_col(nullable=False)  # money received (a PLB recoupment is negative)
    posted_on: date
    source: str = Field(max_length=20)  # patient (API and CSV import share receipt references) | 835
    reference: str = Field(max_length=120)  # ref:<receipt>, row:<digest of a CSV row>, api:<uuid>, or the PLB
    method: str = Field(default="", max_length=20)  # cash | check | card | ach | ... (patient payments)
    reason: str = Field(default="", max_length=10)  # PLB03-1 adjustment reason
    created_at: datetime


# CDS Hooks / CRD and prior authorization (app/cds, app/priorauth):
# ``cds_client`` registered CDS clients (JWT issuers) and their keys; ``cds_jti`` JWT ids seen (replay);
# ``prior_auth_alert`` one row per order that needs authorization: its state, Task, PAS exchange.


class CdsClient(SQLModel, table=True):
    __tablename__ = "cds_client"

    iss: str = Field(primary_key=True, max_length=500)
    jwks: dict[str, Any] | None = json_col()  # a JWKS registered out of band
    jwks_url: str | None = Field(default=None, max_length=500)
    jku_allowlist: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime


class CdsJti(SQLModel, table=True):
    __tablename__ = "cds_jti"

    iss: str = Field(primary_key=True, max_length=500)
    jti: str = Field(primary_key=True, max_length=200)
    expires_at: datetime = Field(index=True)


class PriorAuthAlert(SQLModel, table=True):
    __tablename__ = "prior_auth_alert"
    __table_args__ = (UniqueConstraint("ehr", "order_ref", name="uq_prior_auth_alert_order"),)

    id: int | None = Field(default=None, primary_key=True)
    ehr: str = Field(default=DEFAULT_EHR, max_length=100)  # the order's EHR (app.domain.tenancy)
    order_ref: str = Field(max_length=200)
    patient: str | None = Field(default=None, max_length=200, index=True)
    encounter: str | None = Field(default=None, max_length=200, index=True)
    payer_id: str = Field(max_length=80, index=True)
    payer_name: str = Field(max_length=200)
    codes: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    rule: str = Field(max_length=100)
    status: str = Field(default="open", max_length=20, index=True)  # open|submitted|approved|denied|pended|cancelled
    reason: str | None = None
    pre_auth_ref: str | None = Field(default=None, max_length=100)
    assertion_id: str = Field(max_length=100)
    pas_identifier: str | None = Field(default=None, max_length=100)
    claim_response: dict[str, Any] | None = json_col()
    next_inquiry_at: datetime | None = None
    reevaluate_at: datetime | None = Field(default=None, index=True)  # approved: the claim is to be re-evaluated
    created_at: datetime
    updated_at: datetime


class EligibilityCheck(SQLModel, table=True):
    """One real-time eligibility verification (app.eligibility): due, running, then its stored result.

    Idempotent per (ehr, coverage, service_date, trigger): identity is per EHR (app.domain.tenancy);
    ``result`` is an ``EligibilityResult`` dict.
    """

    __tablename__ = "eligibility_check"
    __table_args__ = (
        UniqueConstraint("ehr", "coverage", "service_date", "trigger", name="uq_eligibility_check_key"),
        Index("ix_eligibility_check_ehr_patient", "ehr", "patient"),
        Index("ix_eligibility_check_due", "status", "due_at"),
        Index("ix_eligibility_check_reevaluation", "status", "reevaluated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ehr: str = Field(default=DEFAULT_EHR, max_length=100)  # identity is per EHR
    coverage: str = Field(max_length=200, index=True)
    service_date: date
    trigger: str = Field(max_length=20)
    patient: str = Field(max_length=200, index=True)
    payer_id: str = Field(max_length=100)
    encounter: str | None = Field(default=None, max_length=200)
    appointment: str | None = Field(default=None, max_length=200)
    status: str = Field(default="pending", max_length=20)  # pending | running | batched | done | skipped
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


class CredentialFailure(SQLModel, table=True):
    """Wrong credentials of one key (a keyed digest of a client address or account name) in one throttle
    scope, within the window ending at ``window_ends`` (epoch seconds); bounded per scope (app.throttle)."""

    __tablename__ = "credential_failure"

    scope: str = Field(primary_key=True, max_length=20)  # api | sign-in-account | sign-in-client
    key: str = Field(primary_key=True, max_length=64)
    failures: int
    window_ends: float = Field(index=True)
