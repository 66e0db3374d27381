"""Shared builders for the FHIR R4 dicts the X12 converters produce (Money, Coding, ClaimResponse base)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.x12 import systems as sy

Reference = dict[str, Any]
Resource = dict[str, Any]


def money(value: Decimal) -> dict[str, Any]:
    return {"value": float(value), "currency": "USD"}


def concept(system: str, code: str, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [{"system": system, "code": code}]}
    if text:
        out["text"] = text
    return out


def claim_response_base(
    *, patient: Reference, insurer: Reference, created: str, request: Reference | None, outcome: str
) -> Resource:
    response: Resource = {
        "resourceType": "ClaimResponse",
        "status": "active",
        "type": concept(sy.CLAIM_TYPE, "professional"),
        "use": "claim",
        "patient": patient,
        "created": created,
        "insurer": insurer,
        "outcome": outcome,
    }
    if request is not None:
        response["request"] = request
    return response
