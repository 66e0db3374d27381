"""Lenient 277CA (005010X214) reader: per claim status category, code, entity and control numbers.

The claim level is the HL whose level code is ``PT`` (2000D; ``23`` dependent is accepted too):
``TRN*2`` carries our patient control number (CLM01), ``REF*1K`` the payer's claim control number,
``STC`` the statuses (STC01 category:code:entity, STC10/STC11 further statuses) and ``SVC`` opens a
service-line status (2220D). Statuses above the claim level (2200B/2200C: batch receipt) land in
``Ack277.batch_statuses``. Disposition: A1/A2 accepted; A3/A6/A7/A8 rejected; anything else other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TextIO

from app.x12.tokenizer import EnvelopeTracker, Problem, Segment, SegmentReader

ACCEPTED_CATEGORIES = frozenset({"A1", "A2"})
REJECTED_CATEGORIES = frozenset({"A3", "A6", "A7", "A8"})
CLAIM_LEVELS = frozenset({"PT", "23"})
KNOWN = frozenset({"BHT", "HL", "NM1", "TRN", "STC", "REF", "DTP", "QTY", "AMT", "SVC"})


@dataclass(frozen=True, slots=True)
class StatusInfo:
    category: str
    code: str
    entity: str
    effective_date: str = ""  # STC02 CCYYMMDD
    action: str = ""  # STC03
    amount: Decimal | None = None  # STC04

    @property
    def disposition(self) -> str:
        if self.category in REJECTED_CATEGORIES:
            return "rejected"
        return "accepted" if self.category in ACCEPTED_CATEGORIES else "other"


@dataclass(slots=True)
class LineStatus:
    procedure: str
    charge: Decimal | None
    line_item_control_number: str = ""
    service_date: str = ""
    statuses: list[StatusInfo] = field(default_factory=list)


@dataclass(slots=True)
class ClaimStatus:
    patient_control_number: str = ""  # TRN02: our CLM01
    payer_claim_control_number: str = ""  # REF*1K
    patient_last_name: str = ""
    member_id: str = ""
    service_date: str = ""  # DTP*472 (D8 or RD8 as sent)
    statuses: list[StatusInfo] = field(default_factory=list)
    lines: list[LineStatus] = field(default_factory=list)

    @property
    def disposition(self) -> str:
        """``rejected`` if any claim or line status rejects, ``accepted`` if one accepts, else ``other``."""
        every = [*self.statuses, *(s for line in self.lines for s in line.statuses)]
        if any(s.disposition == "rejected" for s in every):
            return "rejected"
        return "accepted" if any(s.disposition == "accepted" for s in self.statuses) else "other"


@dataclass(slots=True)
class Ack277:
    interchange_control_number: str = ""
    transaction_control_number: str = ""
    batch_statuses: list[StatusInfo] = field(default_factory=list)
    claims: list[ClaimStatus] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _statuses(seg: Segment, problems: list[Problem]) -> list[StatusInfo]:
    amount = seg.decimal(4, problems)
    out = []
    for position in (1, 10, 11):
        parts = [*seg.components(position), "", ""]
        if parts[0] or parts[1]:
            out.append(StatusInfo(parts[0], parts[1], parts[2], seg[2], seg[3], amount if position == 1 else None))
    if not out:
        problems.append(seg.problem("STC01 has no status category"))
    return out


class _Reader:
    def __init__(self, ack: Ack277) -> None:
        self.ack = ack
        self.claim: ClaimStatus | None = None
        self.line: LineStatus | None = None

    def handle(self, seg: Segment) -> None:
        tag, claim = seg.tag, self.claim
        if tag not in KNOWN:
            self.ack.problems.append(seg.problem(f"segment {tag} is not part of a 277CA"))
        elif tag == "HL":
            self.line = None
            self.claim = ClaimStatus() if seg[3] in CLAIM_LEVELS else None
            if self.claim is not None:
                self.ack.claims.append(self.claim)
        elif tag == "STC":
            statuses = _statuses(seg, self.ack.problems)
            target = self.line.statuses if self.line else claim.statuses if claim else self.ack.batch_statuses
            target.extend(statuses)
        elif claim is None:
            return  # payer / receiver / provider level details are not needed
        elif tag == "SVC":
            proc = seg.components(1)
            self.line = LineStatus(proc[1] if len(proc) > 1 else proc[0], seg.decimal(2, self.ack.problems))
        else:
            self._claim_detail(seg, claim)

    def _claim_detail(self, seg: Segment, claim: ClaimStatus) -> None:
        tag, line = seg.tag, self.line
        if tag == "TRN" and seg[1] == "2":
            claim.patient_control_number = seg[2]
        elif tag == "NM1" and seg[1] == "QC":
            claim.patient_last_name, claim.member_id = seg[3], seg[9]
        elif tag == "REF" and seg[1] == "1K":
            claim.payer_claim_control_number = seg[2]
        elif tag == "REF" and seg[1] == "FJ" and line is not None:
            line.line_item_control_number = seg[2]
        elif tag == "DTP" and seg[1] == "472":
            if line is not None:
                line.service_date = seg[3]
            else:
                claim.service_date = seg[3]


def read_277ca(source: str | TextIO) -> Ack277:
    """Parse a 277CA; claims come out in file order, problems are recorded, nothing raises."""
    reader = SegmentReader(source)
    ack = Ack277(problems=reader.problems)
    envelope = EnvelopeTracker(reader.problems)
    state = _Reader(ack)
    for seg in reader:
        if envelope.see(seg):
            if seg.tag == "ISA":
                ack.interchange_control_number = seg[13]
            elif seg.tag == "ST":
                ack.transaction_control_number = seg[2]
                if seg[1] != "277":
                    reader.problems.append(seg.problem(f"transaction set {seg[1]!r} is not a 277"))
            continue
        state.handle(seg)
    for claim in ack.claims:
        if not claim.patient_control_number:
            ack.problems.append(Problem(0, "TRN", "a claim-level HL has no TRN*2 patient control number"))
    return ack
