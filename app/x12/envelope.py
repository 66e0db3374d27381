"""Interchange and transaction envelopes of an outbound 837P: ISA/GS/ST ... SE/GE/IEA, BHT, 1000A/B.

:class:`Envelope` carries who sends to whom, when, and where control numbers come from: the
caller passes ``control_numbers``, a callable returning the next interchange control number
(:class:`SequentialControlNumbers` for tests and the folder adapter; a database sequence in
production). One number serves ISA13/IEA02 and GS06/GE02; ST02/SE02 count 0001, 0002, ... inside
the group, so the three stay consistent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.x12.errors import GuideViolation
from app.x12.segments_837p import NM1
from app.x12.syntax import COMPONENT, REPETITION, check_code, check_pattern, check_text, join_segment

IMPLEMENTATION = "005010X222A1"
MAX_CONTROL_NUMBER = 999_999_999
MAX_CLAIMS_PER_TRANSACTION = 5000  # the guide's recommended ceiling of CLM per ST/SE
_ID_QUALIFIERS = frozenset({"01", "14", "20", "27", "28", "29", "30", "33", "ZZ"})
_PHONE = re.compile(r"[0-9]{10}")


class SequentialControlNumbers:
    """An in-memory source of unique, increasing control numbers (1 … 999,999,999)."""

    def __init__(self, start: int = 1) -> None:
        if not 1 <= start <= MAX_CONTROL_NUMBER:
            raise ValueError(f"control numbers run from 1 to {MAX_CONTROL_NUMBER}, got {start}")
        self._next = start

    def __call__(self) -> int:
        if self._next > MAX_CONTROL_NUMBER:
            raise ValueError("control numbers exhausted")
        value = self._next
        self._next += 1
        return value


@dataclass(frozen=True, slots=True)
class Submitter:
    """1000A: the submitter's name and id (assigned by the receiver) and an EDI contact phone."""

    name: str
    identifier: str
    contact_name: str
    phone: str

    def __post_init__(self) -> None:
        check_text(self.contact_name, "1000A PER02 contact name", max_len=60)
        check_pattern(self.phone, "1000A PER04 phone", _PHONE, "10 digits")
        NM1("41", "2", self.name, id_qualifier="46", identifier=self.identifier)


@dataclass(frozen=True, slots=True)
class Envelope:
    sender_id: str
    receiver_id: str
    submitter: Submitter
    receiver_name: str
    created: datetime
    control_numbers: Callable[[], int]
    receiver_identifier: str = ""  # 1000B NM109; defaults to receiver_id
    usage: str = "P"  # ISA15: P production, T test
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    application_sender: str = ""  # GS02; defaults to sender_id
    application_receiver: str = ""  # GS03; defaults to receiver_id
    acknowledgment_requested: str = "0"
    claims_per_transaction: int = MAX_CLAIMS_PER_TRANSACTION
    line_breaks: bool = False  # newline after each segment terminator

    def __post_init__(self) -> None:
        check_text(self.sender_id, "ISA06 sender id", max_len=15)
        check_text(self.receiver_id, "ISA08 receiver id", max_len=15)
        check_code(self.sender_qualifier, "ISA05", _ID_QUALIFIERS)
        check_code(self.receiver_qualifier, "ISA07", _ID_QUALIFIERS)
        check_code(self.usage, "ISA15 usage", frozenset({"P", "T"}))
        check_code(self.acknowledgment_requested, "ISA14", frozenset({"0", "1"}))
        check_text(self.application_sender, "GS02", max_len=15, required=False)
        check_text(self.application_receiver, "GS03", max_len=15, required=False)
        NM1("40", "2", self.receiver_name, id_qualifier="46", identifier=self.receiver_identifier or self.receiver_id)
        if not 1 <= self.claims_per_transaction <= MAX_CLAIMS_PER_TRANSACTION:
            raise GuideViolation(f"claims_per_transaction must be 1 to {MAX_CLAIMS_PER_TRANSACTION}")

    def interchange_header(self, control: int) -> list[str]:
        """ISA and GS for interchange/group control number ``control``."""
        c = self.created
        isa = join_segment(
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            self.sender_qualifier,
            self.sender_id.ljust(15),
            self.receiver_qualifier,
            self.receiver_id.ljust(15),
            c.strftime("%y%m%d"),
            c.strftime("%H%M"),
            REPETITION,
            "00501",
            f"{control:09d}",
            self.acknowledgment_requested,
            self.usage,
            COMPONENT,
        )
        gs = join_segment(
            "GS",
            "HC",
            self.application_sender or self.sender_id,
            self.application_receiver or self.receiver_id,
            c.strftime("%Y%m%d"),
            c.strftime("%H%M"),
            str(control),
            "X",
            IMPLEMENTATION,
        )
        return [isa, gs]

    def interchange_trailer(self, control: int, transactions: int) -> list[str]:
        return [f"GE*{transactions}*{control}", f"IEA*1*{control:09d}"]

    def transaction_header(self, control: int, st02: str) -> list[str]:
        """ST, BHT and the 1000A submitter / 1000B receiver loops."""
        s = self.submitter
        c = self.created
        return [
            join_segment("ST", "837", st02, IMPLEMENTATION),
            join_segment("BHT", "0019", "00", f"{control}{st02}", c.strftime("%Y%m%d"), c.strftime("%H%M"), "CH"),
            NM1("41", "2", s.name, id_qualifier="46", identifier=s.identifier).render(),
            join_segment("PER", "IC", s.contact_name, "TE", s.phone),
            NM1(
                "40",
                "2",
                self.receiver_name,
                id_qualifier="46",
                identifier=self.receiver_identifier or self.receiver_id,
            ).render(),
        ]
