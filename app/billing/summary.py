"""A JSON-ready summary of an inbound X12 document (999, 277CA, 835) for people and scripts (pure).

:func:`summarize_x12` keeps what a biller acts on (accepted / rejected transactions with IK3/IK4
locations, claim statuses, 835 claims with their CARC adjustments, categories and the denial
decision) plus every problem the reader recorded. Amounts are strings (exact decimals).
``readable`` is false when nothing of a supported transaction could be read. The top-level
``problems`` list holds every problem of the file (an 835 claim's own problems also appear under it).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from app.billing.denials import classify_claim_payment, is_denial_reason
from app.x12 import (
    Ack277,
    Ack999,
    Adjustment,
    ClaimPayment,
    Problem,
    Remittance835,
    StatusInfo,
    UnsupportedTransaction,
    X12Document,
    category_for_carc,
)

Json = dict[str, Any]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _problems(problems: Iterable[Problem]) -> list[Json]:
    return [{"segment": p.segment_index, "segment_id": p.segment_id, "message": p.message} for p in problems]


def _adjustments(adjustments: Iterable[Adjustment]) -> list[Json]:
    return [
        {
            "group": a.group,
            "reason": a.reason,
            "amount": _money(a.amount),
            "category": _category(a),
            "denial_reason": is_denial_reason(a.group, a.reason),
        }
        for a in adjustments
    ]


def _category(adjustment: Adjustment) -> str | None:
    category = category_for_carc(adjustment.group, adjustment.reason)
    return category.value if category else None


def _summarize_999(ack: Ack999) -> Json:
    transactions = [
        {
            "group_control_number": g.group_control_number,
            "set_id": t.set_id,
            "control_number": t.control_number,
            "status": t.status,
            "accepted": t.accepted,
            "error_codes": t.error_codes,
            "segment_errors": [
                {
                    "segment_id": e.segment_id,
                    "position": e.position,
                    "loop_id": e.loop_id,
                    "code": e.code,
                    "elements": [
                        {"position": x.position, "code": x.code, "bad_value": x.bad_value} for x in e.element_errors
                    ],
                }
                for e in t.segment_errors
            ],
        }
        for g in ack.groups
        for t in g.transactions
    ]
    groups = [{"group_control_number": g.group_control_number, "status": g.status} for g in ack.groups]
    return {
        "kind": "999",
        "readable": bool(ack.groups),
        "interchange_control_number": ack.interchange_control_number,
        "groups": groups,
        "transactions": transactions,
        "accepted": sum(1 for t in ack.transactions if t.accepted),
        "rejected": sum(1 for t in ack.transactions if not t.accepted),
        "problems": _problems(ack.problems),
    }


def _statuses(statuses: Iterable[StatusInfo]) -> list[Json]:
    return [
        {"category": s.category, "code": s.code, "entity": s.entity, "disposition": s.disposition} for s in statuses
    ]


def _summarize_277(ack: Ack277) -> Json:
    claims = [
        {
            "patient_control_number": c.patient_control_number,
            "payer_claim_control_number": c.payer_claim_control_number,
            "disposition": c.disposition,
            "statuses": _statuses(c.statuses),
            "lines": [
                {"procedure": ln.procedure, "charge": _money(ln.charge), "statuses": _statuses(ln.statuses)}
                for ln in c.lines
            ],
        }
        for c in ack.claims
    ]
    return {
        "kind": "277CA",
        "readable": bool(ack.claims or ack.batch_statuses),
        "interchange_control_number": ack.interchange_control_number,
        "batch_statuses": _statuses(ack.batch_statuses),
        "claims": claims,
        "accepted": sum(1 for c in ack.claims if c.disposition == "accepted"),
        "rejected": sum(1 for c in ack.claims if c.disposition == "rejected"),
        "problems": _problems(ack.problems),
    }


def summarize_claim_payment(c: ClaimPayment) -> Json:
    """One 835 claim payment: amounts, adjustments with categories, lines, the denial decision, problems."""
    decision = classify_claim_payment(c)
    return {
        "patient_control_number": c.patient_control_number,
        "status": c.status,
        "charge": _money(c.charge),
        "paid": _money(c.paid),
        "patient_responsibility": _money(c.patient_responsibility),
        "payer_claim_control_number": c.payer_claim_control_number,
        "adjustments": _adjustments(c.adjustments),
        "remark_codes": c.remark_codes,
        "lines": [
            {
                "procedure": ln.procedure,
                "modifiers": list(ln.modifiers),
                "charge": _money(ln.charge),
                "paid": _money(ln.paid),
                "allowed": _money(ln.allowed),
                "adjustments": _adjustments(ln.adjustments),
                "remark_codes": ln.remark_codes,
            }
            for ln in c.lines
        ],
        "denial": {
            "denied": decision.denied,
            "whole_claim": decision.whole_claim,
            "categories": list(decision.categories),
            "amount": _money(decision.denied_amount),
        },
        "problems": _problems(c.problems),
    }


def _summarize_835(remit: Remittance835) -> Json:
    transactions = []
    problems = list(remit.problems)
    for t in remit.transactions:
        h = t.header
        problems += h.problems + [p for c in t.claims for p in c.problems]
        problems += t.trailer.problems if t.trailer else []
        transactions.append(
            {
                "control_number": h.transaction_control_number,
                "payer": {"name": h.payer_name, "id": h.payer_id},
                "payee": {"name": h.payee_name, "id": h.payee_id},
                "payment": {
                    "amount": _money(h.payment_amount),
                    "method": h.payment_method,
                    "date": h.payment_date.isoformat() if h.payment_date else None,
                    "trace_number": h.trace_number,
                },
                "claims": [summarize_claim_payment(c) for c in t.claims],
            }
        )
    claims = remit.claims
    return {
        "kind": "835",
        "readable": bool(remit.transactions),
        "transactions": transactions,
        "claims": len(claims),
        "denied": sum(1 for c in claims if classify_claim_payment(c).denied),
        "problems": _problems(problems),
    }


def summarize_x12(document: X12Document) -> Json:
    """What :func:`app.x12.read_x12` returned, as plain JSON-ready data."""
    if isinstance(document, Ack999):
        return _summarize_999(document)
    if isinstance(document, Ack277):
        return _summarize_277(document)
    if isinstance(document, Remittance835):
        return _summarize_835(document)
    assert isinstance(document, UnsupportedTransaction)
    return {
        "kind": "unsupported",
        "readable": False,
        "set_id": document.set_id,
        "implementation": document.implementation,
        "segments": document.segment_count,
        "problems": _problems(document.problems),
    }
