"""What the 837P writer consumes: one :class:`ClaimInput` per claim, plain typed data.

These are not guide loops; they say what the claim is (who bills, who is covered, what was done).
:mod:`app.x12.build_837p` turns them into the guide's loops and checks the guide's invariants;
:func:`app.x12.from_fhir.claim_input_from_fhir` builds them from an R4 Claim and its context.
Money and quantities are :class:`~decimal.Decimal`; codes are bare (ICD-10-CM without the dot).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    pay_to_address: Address | None = None  # 2010AB: only when payments go elsewhere than 2010AA


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
class ServiceFacility:
    """2310C: where the service was rendered when that is not the billing provider's address."""

    name: str
    address: Address
    npi: str = ""


@dataclass(frozen=True, slots=True)
class Participation:
    """CLM07 assignment / plan participation (A, B, C), CLM08 benefits assignment (Y, N, W), CLM09 release (I, Y)."""

    assignment: str = "A"
    benefits_assignment: str = "Y"
    release_of_information: str = "Y"


DEFAULT_PARTICIPATION = Participation()


@dataclass(frozen=True, slots=True)
class LineAdjudication:
    """2430: what the other payer did with one line (SVD, CAS, DTP*573)."""

    code: str
    paid: Decimal
    units: Decimal
    adjustments: tuple[tuple[str, str, Decimal], ...] = ()  # (group, CARC, amount)
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OtherPayer:
    """2320 + 2330A/2330B: another coverage of the patient, and what that payer paid when known."""

    payer: Payer
    subscriber: Subscriber
    responsibility: str  # SBR01 of the other payer: P, S, T
    filing_indicator: str
    relationship: str = "18"  # SBR02: 18 self, else the X12 individual relationship code
    group_number: str = ""
    paid: Decimal | None = None  # AMT*D (None: not adjudicated yet)
    adjustments: tuple[tuple[str, str, Decimal], ...] = ()  # claim-level CAS (group, CARC, amount)
    patient_responsibility: Decimal | None = None  # AMT*EAF
    adjudicated: date | None = None  # 2330B DTP*573
    lines: tuple[LineAdjudication, ...] = ()  # 2430, in claim line order (by procedure code)


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
    ordering_provider: RenderingProvider | None = None  # 2420E: who ordered the service (labs, imaging)
    prior_authorization: str = ""  # 2400 REF*G1: only when it differs from the claim's


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
    referral_number: str = ""  # 2300 REF*9F
    referring_provider: RenderingProvider | None = None  # 2310A NM1*DN
    supervising_provider: RenderingProvider | None = None  # 2310D NM1*DQ
    service_facility: ServiceFacility | None = None  # 2310C NM1*77: the site, when not the billing address
    clia_number: str = ""  # 2300 REF*X4
    related_causes: tuple[str, ...] = ()  # CLM11: AA auto, EM employment, OA other accident
    accident_state: str = ""  # CLM11-4 (auto accident)
    accident_date: date | None = None  # DTP*439
    participation: Participation = field(default_factory=lambda: DEFAULT_PARTICIPATION)
    other_payers: tuple[OtherPayer, ...] = ()  # 2320/2330: the other coverages (COB)
