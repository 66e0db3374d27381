"""``/api/...`` patient payments and balances. Every route needs the admin token.

- ``POST /api/claims/{id}/patient-payments``   post a patient payment ``{"amount", "received_on", "method",
                                               "reference"}``; the same ``reference`` twice posts once
- ``POST /api/patient-payments/import``        a CSV of patient payments (``text/csv`` body; format in
                                               :mod:`app.billing.patient_payments`)
- ``GET /api/claims/{id}/balance``             the claim's balance per payer and for the patient
- ``GET /api/patients/{id}/balance``           the patient's balance over their claims
- ``GET /api/balances/payers``                 the open balance per payer
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.outcomes import OutcomeError
from app.api.params import TextId
from app.api.reads import read, read_one
from app.api.security import require_admin
from app.billing.patient_payments import METHODS, PaymentFormatError, parse_amount, parse_csv
from app.db import ledger_repo
from app.services import services_of

router = APIRouter(prefix="/api", tags=["billing"], dependencies=[Depends(require_admin)])
MAX_CSV_BYTES = 5_000_000


class PatientPaymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: str = Field(max_length=20)
    received_on: date
    method: str = Field("other", max_length=20)
    reference: str | None = Field(None, min_length=1, max_length=100)


@router.post("/claims/{claim_id}/patient-payments", status_code=201)
async def post_patient_payment(request: Request, claim_id: TextId, body: PatientPaymentRequest) -> dict[str, Any]:
    services = services_of(request)
    try:
        cents = int(parse_amount(body.amount) * 100)
    except ValueError as exc:
        raise OutcomeError(400, str(exc)) from None
    if body.method not in METHODS:
        raise OutcomeError(400, f"method {body.method!r} is not one of {', '.join(METHODS)}")
    reference = f"ref:{body.reference}" if body.reference else f"api:{uuid.uuid4().hex}"

    def run() -> dict[str, Any] | None:
        with services.engine.begin() as conn:
            if ledger_repo.claim_balance_json(conn, claim_id) is None:
                return None
            entry = ledger_repo.record_patient_payment(conn, claim_id=claim_id, amount_cents=cents,
                                                       received_on=body.received_on, method=body.method,
                                                       reference=reference, now=services.clock())  # fmt: skip
            return {"posted": entry is not None, "balance": ledger_repo.claim_balance_json(conn, claim_id)}

    result = await to_thread.run_sync(run)
    if result is None:
        raise OutcomeError(404, f"no claim {claim_id}")
    return result


@router.post("/patient-payments/import")
async def import_patient_payments(request: Request) -> dict[str, Any]:
    services = services_of(request)
    if not request.headers.get("content-type", "").startswith("text/csv"):
        raise OutcomeError(415, "send the payments as text/csv")
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise OutcomeError(413, f"the CSV is over {MAX_CSV_BYTES} bytes: split it")
    try:
        rows, errors = parse_csv(raw.decode("utf-8"))
    except (PaymentFormatError, UnicodeDecodeError) as exc:
        raise OutcomeError(400, str(exc)) from None

    def run() -> dict[str, Any]:
        with services.engine.begin() as conn:
            return ledger_repo.import_patient_payments(conn, rows, now=services.clock())

    result = await to_thread.run_sync(run)
    result["errors"] = sorted([*result["errors"], *({"line": e.line, "message": e.message} for e in errors)],
                              key=lambda e: int(e["line"]))  # fmt: skip
    return result


@router.get("/claims/{claim_id}/balance")
async def claim_balance(request: Request, claim_id: TextId) -> dict[str, Any]:
    return await read_one(request, lambda conn: ledger_repo.claim_balance_json(conn, claim_id), f"no claim {claim_id}")


@router.get("/patients/{patient_id}/balance")
async def patient_balance(request: Request, patient_id: TextId) -> dict[str, Any]:
    return await read(request, lambda conn: ledger_repo.patient_balance_json(conn, f"Patient/{patient_id}"))


@router.get("/balances/payers")
async def payer_balances(request: Request) -> list[dict[str, Any]]:
    return await read(request, lambda conn: ledger_repo.payer_balances_json(conn))
