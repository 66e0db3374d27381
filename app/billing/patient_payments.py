"""Patient payments independent of any 835: one typed payment, and the CSV import format (pure).

CSV (UTF-8, a header row, comma separated)::

    claim,amount,received_on,method,reference
    cb-1a2b3c,12.50,2026-11-20,card,POS-000123

- ``claim``: our claim id or its patient control number (CLM01);
- ``amount``: dollars and cents, positive (a refund to the patient is a negative amount);
- ``received_on``: ISO date;
- ``method`` (optional): cash | check | card | ach | other;
- ``reference`` (optional but recommended): the receipt number. Importing the same reference twice
  posts it once; without one, the row's own content is the reference (the same row twice is one payment).

Rows that do not parse are reported with their line number and skipped; the others are imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

METHODS = ("cash", "check", "card", "ach", "other")
COLUMNS = ("claim", "amount", "received_on")
OPTIONAL = ("method", "reference")


class PaymentFormatError(ValueError):
    """The file as a whole cannot be read (no header, a required column missing)."""


@dataclass(frozen=True, slots=True)
class PatientPayment:
    claim: str
    amount: Decimal
    received_on: date
    method: str = "other"
    reference: str = ""

    @property
    def cents(self) -> int:
        return int((self.amount * 100).to_integral_value())


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str


def parse_amount(text: str) -> Decimal:
    try:
        value = Decimal(text.strip().replace("$", "").replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"amount {text!r} is not a number") from None
    if not value.is_finite() or value == 0:
        raise ValueError(f"amount {text!r} must be a non-zero number")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"amount {text!r} has more than two decimals")
    return value


def payment(claim: str, amount: str, received_on: str, method: str = "", reference: str = "") -> PatientPayment:
    """One payment from text fields; ``ValueError`` names what is wrong."""
    if not claim.strip():
        raise ValueError("claim is empty")
    try:
        day = date.fromisoformat(received_on.strip())
    except ValueError:
        raise ValueError(f"received_on {received_on!r} is not an ISO date (YYYY-MM-DD)") from None
    kind = (method or "other").strip().lower()
    if kind not in METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
    return PatientPayment(claim.strip(), parse_amount(amount), day, kind, reference.strip()[:100])


def row_reference(p: PatientPayment) -> str:
    """The import's idempotency key: the given reference, else a digest of the row."""
    if p.reference:
        return f"ref:{p.reference}"
    blob = f"{p.claim}|{p.amount}|{p.received_on.isoformat()}|{p.method}".encode()
    return "row:" + hashlib.sha256(blob).hexdigest()[:32]


def parse_csv(text: str) -> tuple[list[tuple[int, PatientPayment]], list[RowError]]:
    """(line, payment) for each good row, and the errors of the others."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if not header or missing:
        raise PaymentFormatError(f"the CSV header must name {', '.join(COLUMNS)} (missing: {', '.join(missing)})")
    good: list[tuple[int, PatientPayment]] = []
    errors: list[RowError] = []
    for row in reader:
        line = reader.line_num
        fields = {(k or "").strip().lower(): (v or "") for k, v in row.items() if isinstance(v, str)}
        if not any(v.strip() for v in fields.values()):
            continue
        try:
            good.append((line, payment(*(fields.get(c, "") for c in (*COLUMNS, *OPTIONAL)))))
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
    return good, errors
