"""What the 837P writer consumes: one :class:`ClaimInput` per claim, plain typed data.

These are not guide loops; they say what the claim is (who bills, who is covered, what was done).
:mod:`app.x12.build_837p` turns them into the guide's loops and checks the guide's invariants;
:func:`app.x12.from_fhir.claim_input_from_fhir` builds them from an R4 Claim and its context.
Money and quantities are :class:`~decimal.Decimal`; codes are bare (ICD-10-CM without the dot).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    city: str
    state: str
    postal_code: str
    line2: str = ""


@dataclass(frozen=True, slots=True)
class PersonName:
    last: str
    first: str = ""
    middle: str = ""
    suffix: str = ""


@dataclass(frozen=True, slots=True)
class BillingProvider:
    """2010AA: an organisation (``organization_name``) or a sole proprietor (``person``)."""

    npi: str
    tin: str
    address: Address
    organization_name: str = ""
    person: PersonName | None = None
    taxonomy: str = ""


@dataclass(frozen=True, slots=True)
class Payer:
    name: str
    payer_id: str


@dataclass(frozen=True, slots=True)
class Subscriber:
    name: PersonName
    member_id: str
    birth_date: date | None = None
    sex: str = "U"  # M, F or U
    address: Address | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    """2000C patient when it is not the subscriber; ``relationship`` is the X12 code (01, 19, ...)."""

    name: PersonName
    birth_date: date
    sex: str
    address: Address
    relationship: str


@dataclass(frozen=True, slots=True)
class RenderingProvider:
    npi: str
    name: PersonName
    taxonomy: str = ""


@dataclass(frozen=True, slots=True)
class DrugInput:
    """2410: an 11-digit NDC (no dashes) and the quantity administered (unit F2, GR, ME, ML or UN)."""

    ndc: str
    quantity: Decimal
    unit: str = "UN"


@dataclass(frozen=True, slots=True)
class ServiceLineInput:
    code: str
    charge: Decimal
    units: Decimal
    service_date: date
    pointers: tuple[int, ...]
    modifiers: tuple[str, ...] = ()
    place_of_service: str = ""  # empty: same as the claim's
    drug: DrugInput | None = None
    rendering_provider: RenderingProvider | None = None  # 2420A: only when not the claim's (2310B)


@dataclass(frozen=True, slots=True)
class ClaimInput:
    """One professional claim, ready for the guide's loops.

    ``claim_id`` becomes CLM01 (the patient control number the 277CA and 835 echo back);
    ``diagnoses`` are ICD-10-CM codes in order (the first is principal); ``pointers`` on lines are
    1-based positions in ``diagnoses``. ``frequency`` is 1 (original), 7 (replacement) or 8 (void);
    7 and 8 need ``payer_claim_control_number`` (REF*F8).
    """

    claim_id: str
    total_charge: Decimal
    place_of_service: str
    diagnoses: tuple[str, ...]
    lines: tuple[ServiceLineInput, ...]
    billing_provider: BillingProvider
    subscriber: Subscriber
    payer: Payer
    filing_indicator: str
    payer_responsibility: str = "P"
    group_number: str = ""
    patient: Patient | None = None
    frequency: str = "1"
    prior_authorization: str = ""
    payer_claim_control_number: str = ""
    rendering_provider: RenderingProvider | None = None
