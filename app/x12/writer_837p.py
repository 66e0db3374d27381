"""Streamed 837P writing: claims in, segments out, one claim at a time.

:func:`write_837p` pulls claims from any iterable, builds and checks each one's loops
(:func:`~app.x12.build_837p.build_claim_loops`) and only then writes that claim's segments, so a
refused claim leaves nothing behind. Consecutive claims that share a billing provider or subscriber
share the 2000A/2000B hierarchical levels; a new ST/SE opens every ``claims_per_transaction`` claims.
Memory stays flat: nothing but the current claim and the summary counters is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, TextIO

from app.x12.build_837p import LoopCache, build_claim_loops
from app.x12.envelope import MAX_CONTROL_NUMBER, Envelope
from app.x12.errors import X12BuildError
from app.x12.inputs import ClaimInput
from app.x12.loops_837p import ClaimLoops, Loop2000A, Loop2000B, Loop2000C
from app.x12.syntax import TERMINATOR


@dataclass(frozen=True, slots=True)
class TransactionSummary:
    """One ST/SE: its control number (what a 999 AK2 echoes) and the claims it carries."""

    control_number: str
    claim_ids: tuple[str, ...]
    segment_count: int


@dataclass(frozen=True, slots=True)
class WriteSummary:
    interchange_control_number: str  # ISA13 / IEA02 ('' when nothing was written)
    group_control_number: str  # GS06 / GE02
    transactions: tuple[TransactionSummary, ...]
    claim_count: int
    line_count: int
    total_charge: Decimal
    segment_count: int  # every segment written, envelopes included
    refused: tuple[X12BuildError, ...] = ()


@dataclass
class _Stream:
    """Mutable state of one interchange being written."""

    out: TextIO
    envelope: Envelope
    separator: str
    control: int = 0
    segments: int = 0
    transactions: list[TransactionSummary] = field(default_factory=list)
    st_claims: list[str] = field(default_factory=list)
    st_segments: int = 0
    hl: int = 0
    billing: tuple[Loop2000A, int] | None = None
    subscriber: tuple[Loop2000B, int] | None = None
    patient: tuple[Loop2000C, int] | None = None

    def emit(self, segments: list[str]) -> None:
        sep = self.separator
        self.out.write(sep.join(segments) + sep)
        self.segments += len(segments)
        self.st_segments += len(segments)

    def open_interchange(self) -> None:
        control = self.envelope.control_numbers()
        if not isinstance(control, int) or not 1 <= control <= MAX_CONTROL_NUMBER:
            raise X12BuildError(None, [f"control number source returned {control!r}; need 1..{MAX_CONTROL_NUMBER}"])
        self.control = control
        self.emit(self.envelope.interchange_header(control))

    def open_transaction(self) -> None:
        st02 = f"{len(self.transactions) + 1:04d}"
        self.st_segments = 0
        self.hl = 0
        self.billing = self.subscriber = self.patient = None
        self.emit(self.envelope.transaction_header(self.control, st02))

    def close_transaction(self) -> None:
        st02 = f"{len(self.transactions) + 1:04d}"
        self.emit([f"SE*{self.st_segments + 1}*{st02}"])
        self.transactions.append(TransactionSummary(st02, tuple(self.st_claims), self.st_segments))
        self.st_claims = []

    def add_claim(self, loops: ClaimLoops, claim_id: str) -> None:
        out: list[str] = []
        if self.billing is None or self.billing[0] is not loops.billing:
            self.hl += 1
            self.billing = (loops.billing, self.hl)
            self.subscriber = self.patient = None
            loops.billing.segments(out, self.hl)
        if self.subscriber is None or self.subscriber[0] is not loops.subscriber:
            self.hl += 1
            self.subscriber = (loops.subscriber, self.hl)
            self.patient = None
            loops.subscriber.segments(out, self.hl, self.billing[1], loops.patient is not None)
        if loops.patient is not None and (self.patient is None or self.patient[0] != loops.patient):
            self.hl += 1
            self.patient = (loops.patient, self.hl)
            loops.patient.segments(out, self.hl, self.subscriber[1])
        loops.claim.segments(out)
        self.emit(out)
        self.st_claims.append(claim_id)


def write_837p(
    claims: Iterable[ClaimInput],
    out: TextIO,
    *,
    envelope: Envelope,
    on_error: Literal["raise", "skip"] = "raise",
) -> WriteSummary:
    """Write ``claims`` as one 005010X222A1 interchange to ``out``, streaming.

    A claim that breaks the guide is refused before any of its segments is written: with
    ``on_error="raise"`` the :class:`X12BuildError` propagates (the output so far is incomplete and
    must be discarded); with ``"skip"`` it is recorded in ``WriteSummary.refused`` and the file
    stays valid. Nothing is written when no claim is accepted.
    """
    stream = _Stream(out, envelope, TERMINATOR + ("\n" if envelope.line_breaks else ""))
    cache = LoopCache()
    refused: list[X12BuildError] = []
    claim_count = line_count = 0
    total = Decimal(0)
    per_st = envelope.claims_per_transaction
    for claim in claims:
        try:
            loops = build_claim_loops(claim, cache=cache)
        except X12BuildError as exc:
            if on_error == "raise":
                raise
            refused.append(exc)
            continue
        if claim_count == 0:
            stream.open_interchange()
        if claim_count % per_st == 0:
            if claim_count:
                stream.close_transaction()
            stream.open_transaction()
        stream.add_claim(loops, claim.claim_id)
        claim_count += 1
        line_count += len(loops.claim.service_lines)
        total += loops.claim.clm.total_charge
    if claim_count:
        stream.close_transaction()
        stream.emit(envelope.interchange_trailer(stream.control, len(stream.transactions)))
    control = f"{stream.control:09d}" if claim_count else ""
    return WriteSummary(
        interchange_control_number=control,
        group_control_number=str(stream.control) if claim_count else "",
        transactions=tuple(stream.transactions),
        claim_count=claim_count,
        line_count=line_count,
        total_charge=total,
        segment_count=stream.segments,
        refused=tuple(refused),
    )
