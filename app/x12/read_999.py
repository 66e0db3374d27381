"""Lenient 999 (005010X231A1) reader: per transaction accepted/rejected, with IK3/IK4 locations and codes.

``read_999(source)`` never raises on content. Segments it cannot place are recorded in
``Ack999.problems``; an AK2 without IK5 is still reported (``status`` ``None``), never dropped.
Statuses: IK501/AK901 ``A`` accepted, ``E`` accepted with errors, ``M``/``R``/``W``/``X`` rejected
(``P`` partially accepted at group level).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from app.x12.tokenizer import EnvelopeTracker, Problem, Segment, SegmentReader

ACCEPTED = frozenset({"A", "E"})


@dataclass(slots=True)
class ElementError:
    """IK4: IK401 position (element, component, repeat), IK402 reference number, IK403 code, IK404 value."""

    position: int | None
    component: int | None
    repeat: int | None
    reference: str
    code: str
    bad_value: str


@dataclass(slots=True)
class SegmentError:
    """IK3: IK301 segment id, IK302 position in the transaction, IK303 loop id, IK304 code."""

    segment_id: str
    position: int | None
    loop_id: str
    code: str
    element_errors: list[ElementError] = field(default_factory=list)


@dataclass(slots=True)
class TransactionAck:
    """AK2 … IK5 for one acknowledged transaction set (AK202 echoes our ST02)."""

    set_id: str
    control_number: str
    implementation: str
    status: str | None = None
    error_codes: list[str] = field(default_factory=list)  # IK502..IK506
    segment_errors: list[SegmentError] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status in ACCEPTED


@dataclass(slots=True)
class GroupAck:
    """AK1 … AK9 for one acknowledged functional group (AK102 echoes our GS06)."""

    functional_id: str
    group_control_number: str
    implementation: str
    status: str | None = None
    error_codes: list[str] = field(default_factory=list)  # AK905..AK909
    transactions_included: int | None = None
    transactions_received: int | None = None
    transactions_accepted: int | None = None
    transactions: list[TransactionAck] = field(default_factory=list)


@dataclass(slots=True)
class Ack999:
    interchange_control_number: str = ""
    groups: list[GroupAck] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def transactions(self) -> list[TransactionAck]:
        return [t for g in self.groups for t in g.transactions]


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


class _Reader:
    def __init__(self, ack: Ack999) -> None:
        self.ack = ack
        self.group: GroupAck | None = None
        self.transaction: TransactionAck | None = None
        self.segment_error: SegmentError | None = None

    def handle(self, seg: Segment) -> None:
        handler = getattr(self, f"_{seg.tag.lower()}", None)
        if handler is None:
            if seg.tag not in ("CTX", "TA1"):
                self.ack.problems.append(seg.problem(f"segment {seg.tag} is not part of a 999"))
            return
        handler(seg)

    def _ak1(self, seg: Segment) -> None:
        self.group = GroupAck(seg[1], seg[2], seg[3])
        self.ack.groups.append(self.group)
        self.transaction = self.segment_error = None

    def _ak2(self, seg: Segment) -> None:
        if self.group is None:
            self.ack.problems.append(seg.problem("AK2 before any AK1; kept under an unnamed group"))
            self._ak1(Segment(seg.index, ["AK1"], seg.component))
        assert self.group is not None
        self.transaction = TransactionAck(seg[1], seg[2], seg[3])
        self.group.transactions.append(self.transaction)
        self.segment_error = None

    def _ik3(self, seg: Segment) -> None:
        if self.transaction is None:
            self.ack.problems.append(seg.problem("IK3 outside an AK2 loop"))
            return
        self.segment_error = SegmentError(seg[1], _int(seg[2]), seg[3], seg[4])
        self.transaction.segment_errors.append(self.segment_error)

    def _ik4(self, seg: Segment) -> None:
        if self.segment_error is None:
            self.ack.problems.append(seg.problem("IK4 outside an IK3 loop"))
            return
        where = [*seg.components(1), "", ""]
        error = ElementError(_int(where[0]), _int(where[1]), _int(where[2]), seg[2], seg[3], seg[4])
        self.segment_error.element_errors.append(error)

    def _ik5(self, seg: Segment) -> None:
        if self.transaction is None:
            self.ack.problems.append(seg.problem("IK5 outside an AK2 loop"))
            return
        self.transaction.status = seg[1]
        self.transaction.error_codes = [c for c in seg.elements[2:7] if c]
        self.segment_error = None

    def _ak9(self, seg: Segment) -> None:
        if self.group is None:
            self.ack.problems.append(seg.problem("AK9 outside an AK1 group"))
            return
        g = self.group
        g.status, g.error_codes = seg[1], [c for c in seg.elements[5:10] if c]
        g.transactions_included, g.transactions_received, g.transactions_accepted = (
            _int(seg[2]),
            _int(seg[3]),
            _int(seg[4]),
        )


def read_999(source: str | TextIO) -> Ack999:
    """Parse a 999; what cannot be understood is kept in ``problems``."""
    reader = SegmentReader(source)
    ack = Ack999(problems=reader.problems)
    envelope = EnvelopeTracker(reader.problems)
    state = _Reader(ack)
    for seg in reader:
        if envelope.see(seg):
            if seg.tag == "ISA":
                ack.interchange_control_number = seg[13]
            elif seg.tag == "ST" and seg[1] != "999":
                reader.problems.append(seg.problem(f"transaction set {seg[1]!r} is not a 999"))
            continue
        state.handle(seg)
    for t in ack.transactions:
        if t.status is None:
            reader.problems.append(Problem(0, "AK2", f"AK2 {t.set_id} {t.control_number} has no IK5 status"))
    return ack
