"""Lenient, streamed 835 (005010X221A1) reader.

:class:`RemittanceReader` yields events in file order — a :class:`RemittanceHeader` per transaction,
then one :class:`ClaimPayment` per CLP (complete with its SVC lines), then a
:class:`RemittanceTrailer` (PLB) — holding only the current claim in memory. :func:`read_835`
collects them for small files. Broken content never raises and is never dropped: a CLP whose amounts
cannot be read still comes out, with its problems; segments outside any claim are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import TextIO

from app.x12.remit_835 import (
    Adjustment,
    ClaimPayment,
    ProviderAdjustment,
    Remittance835,
    RemittanceEvent,
    RemittanceHeader,
    RemittanceTrailer,
    RemittanceTransaction,
    ServicePayment,
)
from app.x12.tokenizer import EnvelopeTracker, Problem, Segment, SegmentReader

IGNORED = frozenset({"CUR", "N2", "N3", "N4", "PER", "TS3", "TS2", "QTY", "RDM", "LX"})


def _date(seg: Segment, position: int, problems: list[Problem]) -> date | None:
    raw = seg[position]
    if not raw:
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        problems.append(seg.problem(f"{seg.tag}{position:02d} {raw!r} is not a valid date"))
        return None


def _adjustments(seg: Segment, problems: list[Problem]) -> list[Adjustment]:
    group = seg[1]
    if group not in ("CO", "PR", "OA", "PI", "CR"):
        problems.append(seg.problem(f"CAS01 group code {group!r} is unknown"))
    out = []
    for start in range(2, 20, 3):
        if seg[start]:
            out.append(
                Adjustment(group, seg[start], seg.decimal(start + 1, problems), seg.decimal(start + 2, problems))
            )
    if not out:
        problems.append(seg.problem("CAS has no adjustment reason"))
    return out


def _procedure(seg: Segment, position: int, problems: list[Problem]) -> list[str]:
    parts = seg.components(position)
    raw = parts[0]
    if len(parts) == 1 and len(raw) > 2 and not raw[2].isalnum():
        problems.append(seg.problem(f"{seg.tag}{position:02d} uses {raw[2]!r} as component separator, not ISA16"))
        parts = raw.split(raw[2])
    return parts


class RemittanceReader:
    """Iterate :data:`RemittanceEvent` objects of an 835 source; ``problems`` holds file-level ones."""

    def __init__(self, source: str | TextIO) -> None:
        self._segments = SegmentReader(source)
        self.problems: list[Problem] = self._segments.problems
        self._envelope = EnvelopeTracker(self.problems)
        self._header: RemittanceHeader | None = None
        self._header_sent = False
        self._claim: ClaimPayment | None = None
        self._line: ServicePayment | None = None
        self._trailer: RemittanceTrailer | None = None
        self._handlers: dict[str, Callable[[Segment], None]] = {
            "BPR": self._bpr, "TRN": self._trn, "DTM": self._dtm, "N1": self._n1, "REF": self._ref,
            "CLP": self._clp, "CAS": self._cas, "NM1": self._nm1, "MOA": self._moa, "MIA": self._mia,
            "SVC": self._svc, "AMT": self._amt, "LQ": self._lq, "PLB": self._plb,
        }  # fmt: skip

    def __iter__(self) -> Iterator[RemittanceEvent]:
        for seg in self._segments:
            tag = seg.tag
            if tag == "ST":
                yield from self._finish_transaction()
                self._envelope.see(seg)
                self._start(seg)
            elif tag == "SE":
                self._envelope.see(seg)
                yield from self._finish_transaction()
            elif self._envelope.see(seg):
                continue
            elif tag in ("CLP", "LX", "PLB"):
                yield from self._flush_claim()
                self._handlers.get(tag, self._ignore)(seg)
            else:
                self._handlers.get(tag, self._ignore)(seg)
        if self._header is not None:
            self._problems().append(Problem(0, "SE", "input ended inside a transaction (no SE)"))
        yield from self._finish_transaction()

    # -- transaction boundaries -------------------------------------------------------------------
    def _start(self, seg: Segment) -> None:
        if seg[1] != "835":
            self.problems.append(seg.problem(f"transaction set {seg[1]!r} is not an 835"))
        self._header = RemittanceHeader(seg[2], self._envelope.interchange_control)
        self._header_sent = False

    def _flush_claim(self) -> Iterator[RemittanceEvent]:
        if self._header is None:
            self._header = RemittanceHeader("", self._envelope.interchange_control)
            self._header.problems.append(Problem(0, "ST", "content before any ST: kept under an unnamed transaction"))
        if not self._header_sent:
            self._header_sent = True
            yield self._header
        if self._claim is not None:
            yield self._claim
        self._claim = self._line = None

    def _finish_transaction(self) -> Iterator[RemittanceEvent]:
        if self._header is None:
            return
        yield from self._flush_claim()
        trailer = self._trailer or RemittanceTrailer(self._header.transaction_control_number)
        yield trailer
        self._header = self._trailer = None

    def _problems(self) -> list[Problem]:
        if self._trailer is not None:
            return self._trailer.problems
        if self._claim is not None:
            return self._claim.problems
        return self._header.problems if self._header is not None else self.problems

    def _ignore(self, seg: Segment) -> None:
        if seg.tag not in IGNORED:
            self._problems().append(seg.problem(f"segment {seg.tag} is not understood in an 835"))

    # -- header -----------------------------------------------------------------------------------
    def _bpr(self, seg: Segment) -> None:
        h = self._header_or_problem(seg)
        if h is not None:
            p = h.problems
            h.handling_code, h.credit_debit, h.payment_method = seg[1], seg[3], seg[4]
            h.payment_amount, h.payment_date = seg.decimal(2, p), _date(seg, 16, p)

    def _trn(self, seg: Segment) -> None:
        h = self._header_or_problem(seg)
        if h is not None:
            h.trace_number, h.originator = seg[2], seg[3]

    def _n1(self, seg: Segment) -> None:
        h = self._header_or_problem(seg)
        if h is None:
            return
        if seg[1] == "PR":
            h.payer_name, h.payer_id = seg[2], seg[4] or h.payer_id
        elif seg[1] == "PE":
            h.payee_name, h.payee_id_qualifier, h.payee_id = seg[2], seg[3], seg[4]

    def _header_or_problem(self, seg: Segment) -> RemittanceHeader | None:
        if self._header is None or self._claim is not None:
            self._problems().append(seg.problem(f"{seg.tag} outside the 835 header"))
            return None
        return self._header

    def _dtm(self, seg: Segment) -> None:
        line, claim = self._line, self._claim
        if line is not None:
            if seg[1] in ("472", "150"):
                line.service_date = seg[2]
        elif claim is not None:
            if seg[1] == "232":
                claim.statement_from = seg[2]
            elif seg[1] == "233":
                claim.statement_to = seg[2]
        elif self._header is not None and seg[1] == "405":
            self._header.production_date = _date(seg, 2, self._header.problems)

    def _ref(self, seg: Segment) -> None:
        if self._line is not None and seg[1] == "6R":
            self._line.line_item_control_number = seg[2]
        elif self._claim is None and self._header is not None and seg[1] == "2U" and not self._header.payer_id:
            self._header.payer_id = seg[2]

    # -- claims -----------------------------------------------------------------------------------
    def _clp(self, seg: Segment) -> None:
        problems: list[Problem] = []
        st02 = self._header.transaction_control_number if self._header else ""
        self._claim = ClaimPayment(
            patient_control_number=seg[1], status=seg[2], charge=seg.decimal(3, problems),
            paid=seg.decimal(4, problems), patient_responsibility=seg.decimal(5, problems),
            filing_indicator=seg[6], payer_claim_control_number=seg[7], facility_code=seg[8],
            frequency=seg[9], transaction_control_number=st02, problems=problems,
        )  # fmt: skip
        if not seg[1]:
            problems.append(seg.problem("CLP01 patient control number is empty"))

    def _claim_or_problem(self, seg: Segment) -> ClaimPayment | None:
        if self._claim is None:
            self._problems().append(seg.problem(f"{seg.tag} outside any CLP claim: {'*'.join(seg.elements)}"))
        return self._claim

    def _cas(self, seg: Segment) -> None:
        claim = self._claim_or_problem(seg)
        if claim is not None:
            target = self._line.adjustments if self._line is not None else claim.adjustments
            target.extend(_adjustments(seg, claim.problems))

    def _nm1(self, seg: Segment) -> None:
        claim = self._claim_or_problem(seg)
        if claim is not None and seg[1] == "QC":
            claim.patient_last_name, claim.member_id = seg[3], seg[9].strip()

    def _moa(self, seg: Segment) -> None:
        claim = self._claim_or_problem(seg)
        if claim is not None:
            claim.remark_codes += [c for c in seg.elements[3:8] if c]

    def _mia(self, seg: Segment) -> None:
        claim = self._claim_or_problem(seg)
        if claim is not None:
            claim.remark_codes += [seg[p] for p in (5, 20, 21, 22, 23) if seg[p]]

    def _svc(self, seg: Segment) -> None:
        claim = self._claim_or_problem(seg)
        if claim is None:
            return
        p = claim.problems
        proc = [*_procedure(seg, 1, p), ""]
        original = _procedure(seg, 6, p) if seg[6] else ["", ""]
        self._line = ServicePayment(
            qualifier=proc[0], procedure=proc[1], modifiers=tuple(m for m in proc[2:6] if m),
            charge=seg.decimal(2, p), paid=seg.decimal(3, p), units=seg.decimal(5, p),
            original_procedure=original[1] if len(original) > 1 else "",
        )  # fmt: skip
        claim.lines.append(self._line)
        if self._line.charge is None or self._line.paid is None:
            p.append(seg.problem("SVC02 (submitted) or SVC03 (paid) is missing"))
        if len(seg.elements) > 8:
            p.append(seg.problem(f"SVC has {len(seg.elements) - 1} elements; at most 7 are defined"))

    def _amt(self, seg: Segment) -> None:
        if self._line is not None and seg[1] == "B6":
            self._line.allowed = seg.decimal(2, self._line_problems())

    def _line_problems(self) -> list[Problem]:
        return self._claim.problems if self._claim is not None else self.problems

    def _lq(self, seg: Segment) -> None:
        if self._line is None:
            self._problems().append(seg.problem("LQ outside a service line"))
        elif seg[1] == "HE":
            self._line.remark_codes.append(seg[2])

    # -- provider-level adjustments ---------------------------------------------------------------
    def _plb(self, seg: Segment) -> None:
        if self._trailer is None:
            self._trailer = RemittanceTrailer(self._header.transaction_control_number if self._header else "")
        for start in range(3, 15, 2):
            if seg[start]:
                reason = seg.components(start)
                self._trailer.provider_adjustments.append(ProviderAdjustment(
                    seg[1], seg[2], reason[0], reason[1] if len(reason) > 1 else "",
                    seg.decimal(start + 1, self._trailer.problems),
                ))  # fmt: skip


def iter_835(source: str | TextIO) -> RemittanceReader:
    """Stream an 835: iterate the returned reader for events; its ``problems`` fill as it goes."""
    return RemittanceReader(source)


def read_835(source: str | TextIO) -> Remittance835:
    """Read a whole 835 into memory (small files, tests); use :func:`iter_835` for large ones."""
    reader = RemittanceReader(source)
    result = Remittance835(problems=reader.problems)
    for event in reader:
        if isinstance(event, RemittanceHeader):
            result.transactions.append(RemittanceTransaction(event))
        elif isinstance(event, ClaimPayment):
            result.transactions[-1].claims.append(event)
        else:
            result.transactions[-1].trailer = event
    return result
