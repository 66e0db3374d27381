"""Tables. Every FHIR payload is a JSON column; nothing here knows FHIR structure beyond keys.

- ``subscription``  inbound subscriptions: sender secret (hashed), health, event counters.
- ``inbox``         raw notifications exactly as received (stored before the 2xx).
- ``job``           one unit of work per notification event; claimed with leases, retried, dead-lettered.
- ``resource``      the latest known version of each EHR resource (the mirror contexts are built from).
- ``claim`` / ``claim_version`` / ``finding``  claims, their immutable versions and findings.
- ``outbox``        side effects (write-back, clearinghouse) written in the same transaction as the claim.
- ``ehr``           registered EHRs: base URL, how to authenticate, what the server supports.
- ``subscription_gap``  missed events and silences found per subscription, and when they were repaired.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

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
    status: str = Field(default="active", max_length=20)
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


class Inbox(SQLModel, table=True):
    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("subscription_id", "bundle_id", name="uq_inbox_bundle"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(max_length=200, index=True)
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
    status: str = Field(default="held", max_length=20, index=True)
    current_version: int = 1
    filing_deadline: date | None = None
    created_at: datetime
    updated_at: datetime


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
    created_at: datetime


class SubscriptionGap(SQLModel, table=True):
    __tablename__ = "subscription_gap"
    __table_args__ = (Index("ix_gap_subscription_status", "subscription_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(max_length=200)
    kind: str = Field(max_length=20)  # events | silence
    first_number: int | None = None
    last_number: int | None = None
    status: str = Field(default="open", max_length=20)  # open | repaired
    detected_at: datetime
    repaired_at: datetime | None = None
    attempts: int = 0
    detail: str | None = Field(default=None, max_length=500)
