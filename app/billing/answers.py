"""What a 999 / 277CA / 835 answer does to a claim, as plain values (pure).

The service's ingester (:mod:`app.worker.ingest`) matches answers to claims and stores what these
functions return: the lifecycle event of each verdict (what it does to the claim's status is the
table in :mod:`app.domain.claim_status`), the FHIR references and stable identifier of each
ClaimResponse (so an EHR write is idempotent), the row values of an 835 claim payment, its
denial-queue entries and underpayment alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.billing.batch import to_cents
from app.billing.denials import DenialQueueEntry, classify_claim_payment
from app.billing.records import adjudication_from_835
from app.billing.summary import summarize_claim_payment
from app.billing.underpayment import UnderpaymentReport
from app.domain.claim_status import ClaimEvent
from app.domain.findings import Finding
from app.x12 import ClaimPayment, Problem, StatusInfo
from app.x12.read_999 import TransactionAck
from app.x12.systems import PAYER_ID

CLAIM_SYSTEM = "urn:claimbridge:claim"
RESPONSE_SYSTEM = "urn:claimbridge:claim-response"
#: The claim's lifecycle event per 277CA claim disposition (``accepted`` / ``rejected`` / ``other``).
EVENTS_277CA = {"accepted": ClaimEvent.ACCEPTED_277CA, "rejected": ClaimEvent.REJECTED_277CA}
REVERSAL = "22"
FORWARDED = "23"  # not our claim, forwarded to another payer


def event_999(accepted: bool) -> ClaimEvent:
    return ClaimEvent.ACCEPTED_999 if accepted else ClaimEvent.REJECTED_999


def event_277ca(disposition: str) -> ClaimEvent:
    return EVENTS_277CA.get(disposition, ClaimEvent.OTHER_277CA)


def cents(value: Decimal | None) -> int | None:
    return None if value is None else to_cents(value)


def problems_json(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    return [{"segment": p.segment_index, "segment_id": p.segment_id, "message": p.message} for p in problems]


def patient_reference(patient: str | None) -> dict[str, Any]:
    return {"reference": patient} if patient else {"display": "patient unknown to claimbridge"}


def insurer_reference(claim: dict[str, Any], payer_id: str | None) -> dict[str, Any]:
    insurer = claim.get("insurer")
    if isinstance(insurer, dict) and insurer:
        return dict(insurer)
    return {"identifier": {"system": PAYER_ID, "value": payer_id or "unknown"}}


def claim_reference(claim_id: str) -> dict[str, Any]:
    """A logical reference: the Claim lives in claimbridge, not necessarily in the EHR."""
    return {"type": "Claim", "identifier": {"system": CLAIM_SYSTEM, "value": claim_id}}


def response_identifier(claim_id: str, source: str, file_sha256: str, number: int) -> dict[str, str]:
    """Stable per claim, answer file and position: re-delivery to the EHR creates nothing new."""
    return {"system": RESPONSE_SYSTEM, "value": f"{claim_id}:{source}:{file_sha256[:16]}:{number}"}


def with_identifier(response: dict[str, Any], identifier: dict[str, str]) -> dict[str, Any]:
    """Our identifier first (the EHR adapter's conditional create keys on ``identifier[0]``)."""
    return {**response, "identifier": [identifier, *response.get("identifier", [])]}


def errors_999(ack: TransactionAck) -> list[dict[str, Any]]:
    """IK3 segment errors with their IK4 element errors, and the IK5 codes, as JSON."""
    out: list[dict[str, Any]] = [
        {
            "segment_id": e.segment_id,
            "position": e.position,
            "loop_id": e.loop_id,
            "code": e.code,
            "elements": [
                {
                    "position": x.position,
                    "component": x.component,
                    "reference": x.reference,
                    "code": x.code,
                    "bad_value": x.bad_value,
                }
                for x in e.element_errors
            ],
        }
        for e in ack.segment_errors
    ]
    out += [{"ik5_code": code} for code in ack.error_codes]
    return out


def statuses_json(statuses: Iterable[StatusInfo]) -> list[dict[str, Any]]:
    return [
        {"category": s.category, "code": s.code, "entity": s.entity, "disposition": s.disposition} for s in statuses
    ]


def payment_event(claim: ClaimPayment) -> ClaimEvent:
    """The claim's event for an 835 CLP: whole claim denied, paid, a reversal (CLP02 22) or forwarded (23)."""
    if claim.status == REVERSAL:
        return ClaimEvent.REVERSED_835
    if claim.status == FORWARDED:
        return ClaimEvent.FORWARDED_835
    return ClaimEvent.DENIED_835 if classify_claim_payment(claim).whole_claim else ClaimEvent.PAID_835


def adjudicated_on(remit_date: date | None, now: datetime) -> date:
    return remit_date or now.date()


def claim_payment_values(
    claim: ClaimPayment, *, claim_id: str | None, payer_id: str, adjudicated: date
) -> dict[str, Any]:
    """Column values of a ``claim_payment`` row (matched or not)."""
    adjudication = adjudication_from_835(claim, claim_id=claim_id or "", adjudicated_on=adjudicated)
    detail = summarize_claim_payment(claim)
    return {
        "claim_id": claim_id,
        "patient_control_number": claim.patient_control_number[:40],
        "payer_id": payer_id[:80],
        "status": claim.status[:3],
        "charge_cents": cents(claim.charge),
        "paid_cents": cents(claim.paid),
        "patient_responsibility_cents": cents(claim.patient_responsibility),
        "contractual_cents": to_cents(adjudication.contractual),
        "denied": adjudication.denied,
        "denied_cents": to_cents(adjudication.denied_amount),
        "denial_categories": list(adjudication.denial_categories),
        "payer_claim_control_number": claim.payer_claim_control_number[:50],
        "detail": detail,
        "adjudicated_on": adjudicated,
    }


def denial_rows(
    entries: Iterable[DenialQueueEntry], *, claim_payment_id: int, finding_ids: dict[Finding, int], now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "claim_payment_id": claim_payment_id,
            "claim_id": e.claim_id,
            "patient_control_number": e.patient_control_number[:40],
            "payer_id": e.payer_id[:80],
            "category": e.category,
            "carcs": list(e.carcs),
            "remark_codes": list(e.remark_codes),
            "amount_cents": to_cents(e.amount),
            "lines": list(e.lines),
            "whole_claim": e.whole_claim,
            "scrubbing": e.scrubbing,
            "expected_by": list(e.expected_by),
            "findings": [{"id": finding_ids.get(f), **f.to_dict()} for f in e.findings],
            "documentation": list(e.documentation),
            "status": "open",
            "created_at": now,
        }
        for e in entries
    ]


def underpayment_rows(
    report: UnderpaymentReport, *, claim_payment_id: int, claim_id: str, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "claim_payment_id": claim_payment_id,
            "claim_id": claim_id,
            "payer_id": report.payer_id[:80],
            "line": check.line,
            "procedure": check.procedure[:10],
            "modifiers": list(check.modifiers),
            "expected_cents": to_cents(check.expected or Decimal(0)),
            "actual_cents": to_cents(check.actual or Decimal(0)),
            "shortfall_cents": to_cents(check.shortfall or Decimal(0)),
            "basis": list(check.basis),
            "status": "open",
            "created_at": now,
        }
        for check in report.alerts
    ]
