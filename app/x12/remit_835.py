"""Data read from an 835 (005010X221A1): payment header, claim payments, service lines, adjustments.

Plain mutable dataclasses filled by :mod:`app.x12.read_835`. Amounts are :class:`~decimal.Decimal`
(``None`` when absent or unreadable, with a :class:`~app.x12.tokenizer.Problem` recorded beside).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from app.x12.tokenizer import Problem


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One CAS reason: group code (CO/PR/OA/PI), CARC, amount, quantity."""

    group: str
    reason: str
    amount: Decimal | None
    quantity: Decimal | None = None


@dataclass(slots=True)
class ServicePayment:
    """SVC loop (2110): submitted, paid, allowed (AMT*B6), per-line CAS and RARC (LQ*HE)."""

    qualifier: str
    procedure: str
    modifiers: tuple[str, ...]
    charge: Decimal | None
    paid: Decimal | None
    units: Decimal | None = None
    original_procedure: str = ""  # SVC06-2 when the payer changed the code
    service_date: str = ""  # DTM*472 or DTM*150 (CCYYMMDD)
    allowed: Decimal | None = None
    line_item_control_number: str = ""  # REF*6R
    adjustments: list[Adjustment] = field(default_factory=list)
    remark_codes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ClaimPayment:
    """CLP loop (2100). ``patient_control_number`` is our CLM01; ``status`` is CLP02."""

    patient_control_number: str
    status: str
    charge: Decimal | None
    paid: Decimal | None
    patient_responsibility: Decimal | None
    filing_indicator: str = ""
    payer_claim_control_number: str = ""
    facility_code: str = ""
    frequency: str = ""
    transaction_control_number: str = ""
    patient_last_name: str = ""
    member_id: str = ""
    statement_from: str = ""
    statement_to: str = ""
    adjustments: list[Adjustment] = field(default_factory=list)
    remark_codes: list[str] = field(default_factory=list)  # MOA / MIA remark codes
    lines: list[ServicePayment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class RemittanceHeader:
    """BPR/TRN/DTM*405/N1*PR/N1*PE of one 835 transaction."""

    transaction_control_number: str
    interchange_control_number: str = ""
    handling_code: str = ""  # BPR01 (I remittance+payment, H notification only, ...)
    payment_amount: Decimal | None = None
    credit_debit: str = ""
    payment_method: str = ""  # BPR04: ACH, CHK, NON, FWT, BOP
    payment_date: date | None = None  # BPR16
    trace_number: str = ""  # TRN02: check or EFT number
    originator: str = ""  # TRN03
    production_date: date | None = None  # DTM*405
    payer_name: str = ""
    payer_id: str = ""  # N104 of N1*PR, or REF*2U
    payee_name: str = ""
    payee_id_qualifier: str = ""
    payee_id: str = ""
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ProviderAdjustment:
    """One PLB reason: provider id, fiscal period date, reason code, reference, amount."""

    provider_id: str
    fiscal_period_date: str
    reason: str
    reference: str
    amount: Decimal | None


@dataclass(slots=True)
class RemittanceTrailer:
    """End of one 835 transaction: PLB provider-level adjustments and late problems."""

    transaction_control_number: str
    provider_adjustments: list[ProviderAdjustment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


RemittanceEvent = RemittanceHeader | ClaimPayment | RemittanceTrailer


@dataclass(slots=True)
class RemittanceTransaction:
    header: RemittanceHeader
    claims: list[ClaimPayment] = field(default_factory=list)
    trailer: RemittanceTrailer | None = None


@dataclass(slots=True)
class Remittance835:
    transactions: list[RemittanceTransaction] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def claims(self) -> list[ClaimPayment]:
        return [c for t in self.transactions for c in t.claims]
