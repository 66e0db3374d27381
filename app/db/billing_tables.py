"""Table handles of the clearinghouse modules (:mod:`app.db.billing_repo`, :mod:`app.db.inbound_repo`,
:mod:`app.db.remittance_repo`, :mod:`app.db.billing_views`, the ledger)."""

from __future__ import annotations

from app.db.models import (
    Ack277ca,
    Ack999,
    Claim,
    ClaimPaymentRow,
    ClaimResponseRow,
    ClaimSubmission,
    ClaimVersion,
    DenialQueueEntry,
    InboundFile,
    Job,
    PaymentPosting,
    Remittance,
    Resource,
    SubmissionBatch,
    Subscription,
    UnderpaymentAlert,
    X12ControlNumber,
)

CLAIM = Claim.__table__  # type: ignore[attr-defined]
VERSION = ClaimVersion.__table__  # type: ignore[attr-defined]
JOB = Job.__table__  # type: ignore[attr-defined]
SUB = Subscription.__table__  # type: ignore[attr-defined]
RES = Resource.__table__  # type: ignore[attr-defined]
CONTROL = X12ControlNumber.__table__  # type: ignore[attr-defined]
BATCH = SubmissionBatch.__table__  # type: ignore[attr-defined]
SUBMISSION = ClaimSubmission.__table__  # type: ignore[attr-defined]
INBOUND = InboundFile.__table__  # type: ignore[attr-defined]
ACK999 = Ack999.__table__  # type: ignore[attr-defined]
ACK277 = Ack277ca.__table__  # type: ignore[attr-defined]
REMITTANCE = Remittance.__table__  # type: ignore[attr-defined]
PAYMENT = ClaimPaymentRow.__table__  # type: ignore[attr-defined]
POSTING = PaymentPosting.__table__  # type: ignore[attr-defined]
RESPONSE = ClaimResponseRow.__table__  # type: ignore[attr-defined]
DENIAL = DenialQueueEntry.__table__  # type: ignore[attr-defined]
UNDERPAYMENT = UnderpaymentAlert.__table__  # type: ignore[attr-defined]
