"""Segment models of the 837P (005010X222A1), one class per segment, fields named after elements.

Each model checks its own elements when built (``__post_init__``) and turns itself into text with
``render()`` (no terminator). Models are slotted, non-frozen dataclasses (a frozen dataclass costs
about 4× more to build, which matters at 100,000 claims a file); treat them as values.
Cross-segment invariants (claim total, diagnosis pointers, required loops) live on the loops in
:mod:`app.x12.loops_837p`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from app.x12.errors import GuideViolation
from app.x12.syntax import (
    check_amount,
    check_code,
    check_no_delimiters,
    check_npi,
    check_pattern,
    check_text,
    composite,
    format_amount,
    format_date,
    has_shape,
    is_amount,
    join_segment,
    shape,
    text_field,
)

_ICD10 = re.compile(r"[A-Z][0-9][0-9A-Z]{1,5}")
_ICD10_LIST = re.compile(r"[A-Z][0-9][0-9A-Z]{1,5}(?::[A-Z][0-9][0-9A-Z]{1,5})*")
_PROCEDURE = re.compile(r"[0-9A-Z]{5}")
_MODIFIER = re.compile(r"[0-9A-Z]{2}")
_MODIFIERS = re.compile(r"(?:[0-9A-Z]{2}(?::[0-9A-Z]{2}){0,3})?")  # 0 to 4 modifiers, joined by ':'
_POS = re.compile(r"[0-9]{2}")
_STATE = re.compile(r"[A-Z]{2}")
_ZIP = re.compile(r"[0-9]{5}(?:[0-9]{4})?")
_TIN = re.compile(r"[0-9]{9}")
_NDC = re.compile(r"[0-9]{11}")
_TAXONOMY = re.compile(r"[0-9A-Z]{9}X")
SEXES = frozenset({"M", "F", "U"})
PATIENT_RELATIONSHIPS = frozenset({"01", "19", "20", "21", "39", "40", "53", "G8"})
PAYER_RESPONSIBILITY = frozenset("PSTABCDEFGHU")
FILING_INDICATORS = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "16",
        "17",
        "AM",
        "BL",
        "CH",
        "CI",
        "DS",
        "FI",
        "HM",
        "LM",
        "MA",
        "MB",
        "MC",
        "OF",
        "TV",
        "VA",
        "WC",
        "ZZ",
    ]
)
_NM1_SHAPE = shape(text_field(60, min_len=1), text_field(35), text_field(25), text_field(10), text_field(80))
_N3_SHAPE = shape(text_field(55, min_len=1), text_field(55))
_N4_SHAPE = shape(text_field(30, min_len=1), "[A-Z]{2}", "[0-9]{5}(?:[0-9]{4})?")
_CLM01_SHAPE = shape(text_field(20, min_len=1))
_SBR03_SHAPE = shape(text_field(50))
_SBR02 = frozenset({"18", ""}) | PATIENT_RELATIONSHIPS  # 2000B: 18 or empty (checked on the loop); 2320: any
DRUG_UNITS = frozenset({"F2", "GR", "ME", "ML", "UN"})
FREQUENCIES = frozenset({"1", "7", "8"})
ASSIGNMENT = frozenset({"A", "B", "C"})
BENEFITS_ASSIGNMENT = frozenset({"Y", "N", "W"})
RELEASE_OF_INFORMATION = frozenset({"I", "Y"})
RELATED_CAUSES = frozenset({"AA", "EM", "OA"})
MAX_DIAGNOSES = 12
MAX_POINTERS = 4


@dataclass(slots=True)
class NM1:
    """Individual or organisational name; ``entity_type`` 1 person, 2 non-person."""

    entity_id: str
    entity_type: str
    last_or_org: str
    first: str = ""
    middle: str = ""
    suffix: str = ""
    id_qualifier: str = ""
    identifier: str = ""

    def __post_init__(self) -> None:
        if not has_shape(_NM1_SHAPE, self.last_or_org, self.first, self.middle, self.suffix, self.identifier) or (
            self.id_qualifier and not self.identifier
        ):
            self._explain()
        if self.id_qualifier == "XX":
            check_npi(self.identifier, f"NM1*{self.entity_id} NM109")

    def _explain(self) -> None:
        where = f"NM1*{self.entity_id}"
        check_text(self.last_or_org, f"{where} NM103 name", max_len=60)
        check_text(self.first, f"{where} NM104 first name", max_len=35, required=False)
        check_text(self.middle, f"{where} NM105 middle name", max_len=25, required=False)
        check_text(self.suffix, f"{where} NM107 suffix", max_len=10, required=False)
        check_text(self.identifier, f"{where} NM109 identifier", max_len=80, required=bool(self.id_qualifier))
        check_no_delimiters(where, self.last_or_org, self.first, self.middle, self.suffix, self.identifier)
        raise GuideViolation(f"{where} carries a character X12 cannot send")

    def render(self) -> str:
        if self.identifier:  # nothing to trim after NM109
            return (
                f"NM1*{self.entity_id}*{self.entity_type}*{self.last_or_org}*{self.first}*{self.middle}*"
                f"*{self.suffix}*{self.id_qualifier}*{self.identifier}"
            )
        return join_segment(
            "NM1", self.entity_id, self.entity_type, self.last_or_org, self.first, self.middle, "", self.suffix
        )


@dataclass(slots=True)
class N3:
    line1: str
    line2: str = ""

    def __post_init__(self) -> None:
        if not has_shape(_N3_SHAPE, self.line1, self.line2):
            check_text(self.line1, "N301 address", max_len=55)
            check_text(self.line2, "N302 address", max_len=55, required=False)
            check_no_delimiters("N3", self.line1, self.line2)
            raise GuideViolation("N3 carries a character X12 cannot send")

    def render(self) -> str:
        return f"N3*{self.line1}*{self.line2}" if self.line2 else f"N3*{self.line1}"


@dataclass(slots=True)
class N4:
    city: str
    state: str
    postal_code: str
    zip9_required: bool = False

    def __post_init__(self) -> None:
        if has_shape(_N4_SHAPE, self.city, self.state, self.postal_code) and (
            not self.zip9_required or len(self.postal_code) == 9
        ):
            return
        check_text(self.city, "N401 city", max_len=30)
        check_no_delimiters("N401 city", self.city)
        check_pattern(self.state, "N402 state", _STATE, "a 2-letter state code")
        check_pattern(self.postal_code, "N403 ZIP code", _ZIP, "5 or 9 digits")
        raise GuideViolation(f"N403 ZIP code {self.postal_code!r} must be 9 digits in this loop")

    def render(self) -> str:
        return f"N4*{self.city}*{self.state}*{self.postal_code}"


@dataclass(slots=True)
class REF:
    qualifier: str
    value: str

    def __post_init__(self) -> None:
        check_text(self.value, f"REF*{self.qualifier} REF02", max_len=50)
        check_no_delimiters(f"REF*{self.qualifier} REF02", self.value)
        if self.qualifier == "EI":
            check_pattern(self.value, "REF*EI tax id", _TIN, "9 digits")

    def render(self) -> str:
        return f"REF*{self.qualifier}*{self.value}"


@dataclass(slots=True)
class PRV:
    provider_code: str  # BI billing, PE performing
    taxonomy: str

    def __post_init__(self) -> None:
        check_pattern(self.taxonomy, f"PRV*{self.provider_code} PRV03 taxonomy", _TAXONOMY, "10 characters ending in X")

    def render(self) -> str:
        return f"PRV*{self.provider_code}*PXC*{self.taxonomy}"


@dataclass(slots=True)
class SBR:
    payer_responsibility: str
    relationship: str  # 18 when the subscriber is the patient, else empty
    group_number: str
    filing_indicator: str

    def __post_init__(self) -> None:
        if (
            self.payer_responsibility in PAYER_RESPONSIBILITY
            and self.relationship in _SBR02
            and _SBR03_SHAPE.fullmatch(self.group_number)
            and self.filing_indicator in FILING_INDICATORS
        ):
            return
        check_no_delimiters("SBR03 group number", self.group_number)
        check_code(self.payer_responsibility, "SBR01 payer responsibility", PAYER_RESPONSIBILITY)
        check_code(self.relationship, "SBR02 relationship", _SBR02)
        check_text(self.group_number, "SBR03 group number", max_len=50, required=False)
        check_code(self.filing_indicator, "SBR09 claim filing indicator", FILING_INDICATORS)

    def render(self) -> str:
        return f"SBR*{self.payer_responsibility}*{self.relationship}*{self.group_number}******{self.filing_indicator}"


@dataclass(slots=True)
class PAT:
    relationship: str

    def __post_init__(self) -> None:
        check_code(self.relationship, "PAT01 patient relationship", PATIENT_RELATIONSHIPS)

    def render(self) -> str:
        return f"PAT*{self.relationship}"


@dataclass(slots=True)
class DMG:
    birth_date: date
    sex: str

    def __post_init__(self) -> None:
        if self.sex not in SEXES:
            check_code(self.sex, "DMG03 sex", SEXES)

    def render(self) -> str:
        return f"DMG*D8*{format_date(self.birth_date)}*{self.sex}"


@dataclass(slots=True)
class CLM:
    """CLM01 patient control number, CLM02 total charge, CLM05 POS:B:frequency."""

    patient_control_number: str
    total_charge: Decimal
    place_of_service: str
    frequency: str
    assignment: str = "A"  # CLM07: A assigned, B lab services only, C not assigned
    benefits_assignment: str = "Y"  # CLM08: Y, N, W (not applicable)
    release_of_information: str = "Y"  # CLM09: I informed consent, Y signed statement
    related_causes: tuple[str, ...] = ()  # CLM11-1..3: AA, EM, OA
    accident_state: str = ""  # CLM11-4, required with AA

    def __post_init__(self) -> None:
        if (
            _CLM01_SHAPE.fullmatch(self.patient_control_number)
            and is_amount(self.total_charge)
            and self.total_charge > 0
            and _POS.fullmatch(self.place_of_service)
            and self.frequency in FREQUENCIES
            and (self.assignment, self.benefits_assignment, self.release_of_information) == ("A", "Y", "Y")
            and not self.related_causes
        ):
            return
        check_code(self.assignment, "CLM07 assignment or plan participation", ASSIGNMENT)
        check_code(self.benefits_assignment, "CLM08 benefits assignment", BENEFITS_ASSIGNMENT)
        check_code(self.release_of_information, "CLM09 release of information", RELEASE_OF_INFORMATION)
        if len(self.related_causes) > 3 or not RELATED_CAUSES.issuperset(self.related_causes):
            raise GuideViolation(f"CLM11 related causes {self.related_causes} must be up to 3 of AA, EM, OA")
        if "AA" in self.related_causes:
            check_pattern(self.accident_state, "CLM11-4 auto accident state", _STATE, "a 2-letter state code")
        check_text(self.patient_control_number, "CLM01 patient control number", max_len=20)
        check_no_delimiters("CLM01 patient control number", self.patient_control_number)
        check_amount(self.total_charge, "CLM02 total charge")
        check_pattern(self.place_of_service, "CLM05-1 place of service", _POS, "2 digits")
        check_code(self.frequency, "CLM05-3 claim frequency", FREQUENCIES)

    def render(self) -> str:
        clm05 = composite(self.place_of_service, "B", self.frequency)
        head = f"CLM*{self.patient_control_number}*{format_amount(self.total_charge)}***{clm05}*Y"
        tail = f"*{self.assignment}*{self.benefits_assignment}*{self.release_of_information}"
        if not self.related_causes:
            return head + tail
        causes = [*self.related_causes, *([""] * (3 - len(self.related_causes)))]
        return head + tail + "**" + composite(*causes, self.accident_state)


@dataclass(slots=True)
class HI:
    """Diagnoses: ABK (principal) then ABF for the others; 1 to 12 distinct ICD-10-CM codes."""

    codes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.codes) <= MAX_DIAGNOSES:
            raise GuideViolation(f"HI must carry 1 to {MAX_DIAGNOSES} diagnoses, got {len(self.codes)}")
        if len(set(self.codes)) != len(self.codes):
            raise GuideViolation(f"HI repeats a diagnosis: {', '.join(self.codes)}")
        if not _ICD10_LIST.fullmatch(":".join(self.codes)):
            for code in self.codes:
                check_pattern(code, "HI diagnosis", _ICD10, "an ICD-10-CM code without the dot")

    @property
    def qualifiers(self) -> tuple[str, ...]:
        return ("ABK",) + ("ABF",) * (len(self.codes) - 1)

    def render(self) -> str:
        return "HI*ABK:" + "*ABF:".join(self.codes)


@lru_cache(maxsize=1024)
def _shape_is_valid(modifiers: tuple[str, ...], pointers: tuple[int, ...]) -> bool:
    """≤ 4 well-formed modifiers and 1-4 distinct positive pointers (cached: lines repeat shapes)."""
    return (
        bool(_MODIFIERS.fullmatch(":".join(modifiers)))
        and 0 < len(pointers) <= MAX_POINTERS
        and len(set(pointers)) == len(pointers)
        and min(pointers) >= 1
    )


@lru_cache(maxsize=1024)
def _pointer_text(pointers: tuple[int, ...]) -> str:
    return ":".join(map(str, pointers))


@dataclass(slots=True)
class SV1:
    """HC:code:modifiers, charge, UN, units, POS (when it differs from CLM05-1), pointers."""

    procedure_code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    units: Decimal
    place_of_service: str
    pointers: tuple[int, ...]

    def __post_init__(self) -> None:
        if (
            _PROCEDURE.fullmatch(self.procedure_code)
            and _shape_is_valid(self.modifiers, self.pointers)
            and is_amount(self.charge)
            and self.charge > 0
            and self.units.is_finite()
            and self.units > 0
            and (not self.place_of_service or _POS.fullmatch(self.place_of_service))
        ):
            return
        self._explain()

    def _explain(self) -> None:
        check_pattern(self.procedure_code, "SV101-2 procedure code", _PROCEDURE, "a 5-character CPT/HCPCS code")
        if len(self.modifiers) > 4:
            raise GuideViolation(f"SV101 carries {len(self.modifiers)} modifiers; at most 4")
        for modifier in self.modifiers:
            check_pattern(modifier, "SV101 modifier", _MODIFIER, "2 letters or digits")
        check_amount(self.charge, "SV102 line charge")
        if not self.units.is_finite() or self.units <= 0:
            raise GuideViolation(f"SV104 units {self.units} must be greater than 0")
        if self.place_of_service:
            check_pattern(self.place_of_service, "SV105 place of service", _POS, "2 digits")
        if not 1 <= len(self.pointers) <= MAX_POINTERS:
            raise GuideViolation(f"SV107 needs 1 to {MAX_POINTERS} diagnosis pointers, got {len(self.pointers)}")
        raise GuideViolation(f"SV107 pointers {self.pointers} must be distinct positive numbers")

    def render(self) -> str:
        sv101 = (
            ":".join(("HC", self.procedure_code, *self.modifiers)) if self.modifiers else "HC:" + self.procedure_code
        )
        charge, units = format_amount(self.charge), format_amount(self.units)
        return f"SV1*{sv101}*{charge}*UN*{units}*{self.place_of_service}**{_pointer_text(self.pointers)}"


@dataclass(slots=True)
class LIN:
    ndc: str

    def __post_init__(self) -> None:
        check_pattern(self.ndc, "LIN03 NDC", _NDC, "11 digits (5-4-2 without dashes)")

    def render(self) -> str:
        return f"LIN**N4*{self.ndc}"


@dataclass(slots=True)
class CTP:
    quantity: Decimal
    unit: str

    def __post_init__(self) -> None:
        if not self.quantity.is_finite() or self.quantity <= 0:
            raise GuideViolation(f"CTP04 drug quantity {self.quantity} must be greater than 0")
        check_code(self.unit, "CTP05 unit", DRUG_UNITS)

    def render(self) -> str:
        return f"CTP****{format_amount(self.quantity)}*{self.unit}"
