"""X12 acknowledgements and remittances → FHIR R4 ClaimResponse / PaymentReconciliation dicts (pure).

The caller links an X12 answer to our records (by patient control number = CLM01, or by ST02 for a
999) and passes the references (``patient``, ``insurer``, ``request``) and ``created``; the
converters only translate. Outputs validate with :func:`app.fhir.r4.validate_resource`.

* 999: ``outcome`` ``queued`` when the transaction was accepted (IK501 A/E), else ``error`` with one
  ``error`` per IK3/IK4 (code ``IK304-<code>`` / ``IK403-<code>`` in ``urn:claimbridge:x12:999-error``).
* 277CA: ``queued`` when accepted or pending, ``error`` when rejected (A3/A6/A7/A8), each status as
  an ``error`` whose ``code`` carries the status code (X12 claim-status system, STC01-2) and the
  status category (X12 claim-status-category system, STC01-1) as codings, ``text`` ``STC A7:562:85``
  (line statuses carry ``itemSequence``).
* 835: ``complete``; per line adjudication ``submitted`` (SVC02), ``eligible`` (AMT*B6),
  ``benefit`` (SVC03) (HL7 adjudication codes) and one entry per CAS reason: ``category`` CARIN
  ``C4BBAdjudicationDiscriminator#adjustmentreason`` plus the X12 group code (claim-adjustment-group
  system, ``text`` ``CO``), ``reason`` = CARC (text ``CO-45``); claim-level CAS in ``adjudication``;
  RARCs as ``processNote``; totals ``submitted``, ``benefit`` and the patient responsibility (CLP05)
  as CARIN ``C4BBAdjudication#memberliability``; payment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from app.x12 import systems as sy
from app.x12.fhir_out import Reference, Resource, claim_response_base, concept, money
from app.x12.read_277ca import ClaimStatus, StatusInfo
from app.x12.read_999 import TransactionAck
from app.x12.remit_835 import Adjustment, ClaimPayment, RemittanceHeader, RemittanceTrailer, ServicePayment

CLP_STATUS_TEXT = {  # our own short wording of CLP02
    "1": "processed as primary", "2": "processed as secondary", "3": "processed as tertiary",
    "4": "denied", "19": "processed as primary, forwarded", "20": "processed as secondary, forwarded",
    "21": "processed as tertiary, forwarded", "22": "reversal of previous payment",
    "23": "not our claim, forwarded", "25": "predetermination pricing only",
}  # fmt: skip


def claim_response_from_999(
    ack: TransactionAck, *, patient: Reference, insurer: Reference, created: str, request: Reference | None = None
) -> Resource:
    """The 999 verdict on the transaction that carried a claim (``ack.control_number`` = our ST02)."""
    outcome = "queued" if ack.accepted else "error"
    response = claim_response_base(patient=patient, insurer=insurer, created=created, request=request, outcome=outcome)
    response["disposition"] = f"999 transaction {ack.control_number}: IK501 {ack.status or 'missing'}"
    errors = []
    for seg in ack.segment_errors:
        where = f"{seg.segment_id} segment {seg.position} (loop {seg.loop_id or '?'})"
        errors.append({"code": concept(sy.X12_ACK_ERROR, f"IK304-{seg.code}", f"{where}: IK304 {seg.code}")})
        for el in seg.element_errors:
            at = ":".join(str(p) for p in (el.position, el.component) if p is not None)
            text = f"{where} element {at} (ref {el.reference}): IK403 {el.code}"
            errors.append({"code": concept(sy.X12_ACK_ERROR, f"IK403-{el.code}", text)})
    if not ack.accepted and not errors:
        codes = ack.error_codes or ["none"]
        errors = [{"code": concept(sy.X12_ACK_ERROR, f"IK502-{code}", f"IK5 {ack.status}: {code}")} for code in codes]
    if errors:
        response["error"] = errors
    return response


def _status_error(status: StatusInfo, item_sequence: int | None) -> dict[str, Any]:
    text = f"STC {status.category}:{status.code}" + (f":{status.entity}" if status.entity else "")
    codings = [{"system": sy.CLAIM_STATUS, "code": status.code}] if status.code else []
    if status.category:
        codings.append({"system": sy.CLAIM_STATUS_CATEGORY, "code": status.category})
    error: dict[str, Any] = {"code": {"coding": codings, "text": text}}
    if item_sequence is not None:
        error["itemSequence"] = item_sequence
    return error


def claim_response_from_277ca(
    status: ClaimStatus, *, patient: Reference, insurer: Reference, created: str, request: Reference | None = None
) -> Resource:
    """A 277CA claim acknowledgement (``status.patient_control_number`` = our CLM01)."""
    rejected = status.disposition == "rejected"
    response = claim_response_base(
        patient=patient, insurer=insurer, created=created, request=request, outcome="error" if rejected else "queued"
    )
    response["disposition"] = f"277CA {status.disposition}: " + ", ".join(
        f"{s.category}:{s.code}" for s in status.statuses
    )
    if status.payer_claim_control_number:
        response["identifier"] = [{"system": sy.PAYER_CLAIM_CONTROL_NUMBER, "value": status.payer_claim_control_number}]
    if rejected:
        errors = [_status_error(s, None) for s in status.statuses if s.disposition == "rejected"]
        for number, line in enumerate(status.lines, start=1):
            errors += [_status_error(s, number) for s in line.statuses if s.disposition == "rejected"]
        response["error"] = errors
    return response


def _adjudication(category: str, amount: Decimal | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"category": concept(sy.ADJUDICATION, category)}
    if amount is not None:
        entry["amount"] = money(amount)
    return entry


def _adjustment_entry(adj: Adjustment) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "category": {
            "coding": [
                {"system": sy.CARIN_DISCRIMINATOR, "code": "adjustmentreason"},
                {"system": sy.CLAIM_ADJUSTMENT_GROUP, "code": adj.group},
            ],
            "text": adj.group,
        },
        "reason": concept(sy.CARC, adj.reason, f"{adj.group}-{adj.reason}"),
    }
    if adj.amount is not None:
        entry["amount"] = money(adj.amount)
    if adj.quantity is not None:
        entry["value"] = float(adj.quantity)
    return entry


def _line_item(number: int, line: ServicePayment, notes: list[dict[str, Any]]) -> dict[str, Any]:
    adjudication = [_adjudication("submitted", line.charge)]
    if line.allowed is not None:
        adjudication.append(_adjudication("eligible", line.allowed))
    adjudication.append(_adjudication("benefit", line.paid))
    adjudication += [_adjustment_entry(a) for a in line.adjustments]
    item: dict[str, Any] = {"itemSequence": number, "adjudication": adjudication}
    numbers = []
    for code in line.remark_codes:
        notes.append({"number": len(notes) + 1, "type": "display", "text": f"RARC {code}"})
        numbers.append(len(notes))
    if numbers:
        item["noteNumber"] = numbers
    return item


def claim_response_from_835_claim(
    claim: ClaimPayment,
    *,
    patient: Reference,
    insurer: Reference,
    created: str,
    request: Reference | None = None,
    header: RemittanceHeader | None = None,
) -> Resource:
    """One adjudicated claim of an 835 (``claim.patient_control_number`` = our CLM01)."""
    response = claim_response_base(
        patient=patient, insurer=insurer, created=created, request=request, outcome="complete"
    )
    response["disposition"] = CLP_STATUS_TEXT.get(claim.status, f"CLP02 {claim.status}")
    if claim.payer_claim_control_number:
        response["identifier"] = [{"system": sy.PAYER_CLAIM_CONTROL_NUMBER, "value": claim.payer_claim_control_number}]
    notes = [{"number": n, "type": "display", "text": f"RARC {code}"} for n, code in enumerate(claim.remark_codes, 1)]
    items = [_line_item(n, line, notes) for n, line in enumerate(claim.lines, start=1)]
    if items:
        response["item"] = items
    if claim.adjustments:
        response["adjudication"] = [_adjustment_entry(a) for a in claim.adjustments]
    totals = [_adjudication("submitted", claim.charge), _adjudication("benefit", claim.paid)]
    if claim.patient_responsibility is not None:
        totals.append({"category": concept(sy.CARIN_ADJUDICATION, "memberliability", "patient responsibility"),
                       "amount": money(claim.patient_responsibility)})  # fmt: skip
    response["total"] = [t for t in totals if "amount" in t]
    if notes:
        response["processNote"] = notes
    if claim.paid is not None:
        payment: dict[str, Any] = {"type": concept(sy.EX_PAYMENT_TYPE, "complete"), "amount": money(claim.paid)}
        if header is not None and header.payment_date is not None:
            payment["date"] = header.payment_date.isoformat()
        if header is not None and header.trace_number:
            payment["identifier"] = {"system": sy.CHECK_OR_EFT_NUMBER, "value": header.trace_number}
        response["payment"] = payment
    return response


def payment_reconciliation_from_835(
    header: RemittanceHeader,
    claims: Iterable[ClaimPayment],
    *,
    created: str,
    trailer: RemittanceTrailer | None = None,
    payment_issuer: Reference | None = None,
    claim_references: Mapping[str, Reference] | None = None,
    response_references: Mapping[str, Reference] | None = None,
) -> Resource:
    """The payment (BPR/TRN) of one 835 transaction with one ``detail`` per claim and per PLB.

    ``claim_references`` / ``response_references`` map a patient control number to our Claim /
    ClaimResponse. PLB amounts reduce the payment, so their ``detail.amount`` is negated.
    """
    paid_on = header.payment_date or header.production_date
    resource: Resource = {
        "resourceType": "PaymentReconciliation",
        "status": "active",
        "created": created,
        "paymentDate": paid_on.isoformat() if paid_on else created[:10],
        "paymentAmount": money(header.payment_amount if header.payment_amount is not None else Decimal(0)),
        "outcome": "complete",
    }
    if header.trace_number:
        resource["paymentIdentifier"] = {"system": sy.CHECK_OR_EFT_NUMBER, "value": header.trace_number}
    if payment_issuer is not None:
        resource["paymentIssuer"] = payment_issuer
    details = [_claim_detail(c, claim_references or {}, response_references or {}) for c in claims]
    for plb in trailer.provider_adjustments if trailer else ():
        detail: dict[str, Any] = {"type": concept(sy.PAYMENT_TYPE, "adjustment", f"PLB {plb.reason}")}
        if plb.amount is not None:
            detail["amount"] = money(-plb.amount)
        details.append(detail)
    if details:
        resource["detail"] = details
    return resource


def _claim_detail(
    claim: ClaimPayment, requests: Mapping[str, Reference], responses: Mapping[str, Reference]
) -> dict[str, Any]:
    detail: dict[str, Any] = {"type": concept(sy.PAYMENT_TYPE, "payment")}
    if claim.payer_claim_control_number:
        detail["identifier"] = {"system": sy.PAYER_CLAIM_CONTROL_NUMBER, "value": claim.payer_claim_control_number}
    if claim.patient_control_number in requests:
        detail["request"] = requests[claim.patient_control_number]
    if claim.patient_control_number in responses:
        detail["response"] = responses[claim.patient_control_number]
    if claim.paid is not None:
        detail["amount"] = money(claim.paid)
    return detail
