"""Billing after the scrubber: 837P submission planning, inbound X12 summaries, denials, underpayment, KPIs.

Owns what happens to a claim once it is checked: which claims go into an 837P and in which order
(:mod:`submission`; a stored claim's 837P input in :mod:`batch`), interchange control numbers kept in
a state file for the offline ``x12 build`` (:mod:`control_file`, the only module here that does
I/O; the service uses a database sequence), readable summaries of 999/277CA/835 (:mod:`summary`),
what each answer does to a claim (:mod:`answers`: status transitions, ClaimResponse references,
row values), denial decisions and the denial queue (:mod:`denials`), underpayment alerts
(:mod:`underpayment`), how an 835 answer is posted against the claim's earlier ones (:mod:`posting`:
repeats once, reversals paired, secondaries), balances per payer and patient (:mod:`ledger`),
patient payments and their CSV format (:mod:`patient_payments`), and the revenue-cycle KPIs over
plain records (:mod:`records`, :mod:`kpis`).
No database access: the service (:mod:`app.worker.submit`, :mod:`app.worker.ingest`) and the CLI load
the inputs and store the results.

Public API::

    plan_submission(report, contexts, *, payers) -> SubmissionPlan      # .ready (by deadline), .left_out
    refused_by_writer(plan, summary) -> tuple[LeftOut, ...]
    patient_control_number(claim) -> str                                # CLM01 (≤ 20 characters)
    FileControlNumbers(path)                                            # callable: next ISA13, persisted
    summarize_x12(document) -> dict                                     # JSON-ready 999/277CA/835 summary
    classify_claim_payment(claim_payment) -> DenialDecision
    build_denial_queue(remitted_claims, *, rules=None) -> list[DenialQueueEntry]
    group_queue(entries) -> dict[(category, payer_id), list[DenialQueueEntry]]
    check_underpayment(claim_payment, *, payer_id, allowed, policy) -> UnderpaymentReport
    actual_allowed(service_payment) -> Decimal | None
    adjudication_from_835(claim_payment, *, claim_id, adjudicated_on) -> Adjudication
    compute_kpis(book, *, start, end, as_of=None, payer_id=None) -> Kpis
    kpi_table(book, *, periods, by_payer=True, as_of=None) -> list[Kpis]
    kpi_values(kpis) -> dict[str, float]                                # headline figures (gauges)
    prepare_claim(candidate, *, payers) -> Prepared | Refused           # app.billing.batch
    plan_posting(incoming, previous, *, primary_payer) -> PostingPlan   # app.billing.posting
    claim_balance(charge_cents, *, primary_payer, posted, entries) -> ClaimBalance  # app.billing.ledger
    parse_csv(text) -> (rows, errors)                                    # app.billing.patient_payments
"""

from __future__ import annotations

from app.billing.control_file import ControlNumberError, FileControlNumbers
from app.billing.denials import (
    Denial,
    DenialDecision,
    DenialQueueEntry,
    RemittedClaim,
    build_denial_queue,
    carc_index,
    classify_claim_payment,
    group_queue,
    is_denial_reason,
)
from app.billing.kpis import Kpis, compute_kpis, kpi_table
from app.billing.records import (
    Acknowledgement,
    Adjudication,
    Payment,
    RevenueBook,
    SubmittedClaim,
    adjudication_from_835,
)
from app.billing.submission import (
    LeftOut,
    ReadyClaim,
    SubmissionPlan,
    patient_control_number,
    plan_submission,
    refused_by_writer,
)
from app.billing.summary import summarize_x12
from app.billing.underpayment import LineCheck, UnderpaymentReport, actual_allowed, check_underpayment

__all__ = [
    "Acknowledgement", "Adjudication", "ControlNumberError", "Denial", "DenialDecision", "DenialQueueEntry",
    "FileControlNumbers", "Kpis", "LeftOut", "LineCheck", "Payment", "ReadyClaim", "RemittedClaim",
    "RevenueBook", "SubmissionPlan", "SubmittedClaim", "UnderpaymentReport", "actual_allowed",
    "adjudication_from_835", "build_denial_queue", "carc_index", "check_underpayment", "classify_claim_payment",
    "compute_kpis", "group_queue", "is_denial_reason", "kpi_table", "patient_control_number", "plan_submission",
    "refused_by_writer", "summarize_x12",
]  # fmt: skip
