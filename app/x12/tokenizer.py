"""Lenient X12 tokenizer: delimiters from ISA (or inferred when the envelope is missing), segments streamed.

:class:`SegmentReader` reads a string or a text stream in chunks and yields :class:`Segment` objects
one at a time, so a reader's memory stays flat in the file size. It never raises on content: what it
cannot understand goes to ``problems`` (a list of :class:`Problem`). :class:`EnvelopeTracker` checks
ISA/GS/ST … SE/GE/IEA pairing and counts for any transaction set and records mismatches as problems.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TextIO

CHUNK_SIZE = 1 << 16
_COMPONENT_HINT = re.compile(r"\*(?:HC|ABK|ABF|BK|BF|A[0-9]|E[0-9]|F[0-9]|P[0-9]|R[0-9])([^A-Za-z0-9 *~\r\n])")


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something a reader could not understand; ``segment_index`` is 1-based in the file (0: none)."""

    segment_index: int
    segment_id: str
    message: str


class Segment:
    """One segment: ``seg[1]`` is element 01 ('' when absent); ``components(n)`` splits a composite."""

    __slots__ = ("component", "elements", "index", "tag")

    def __init__(self, index: int, elements: list[str], component: str) -> None:
        self.index = index
        self.tag = elements[0]
        self.elements = elements
        self.component = component

    def __getitem__(self, position: int) -> str:
        elements = self.elements
        return elements[position] if 0 < position < len(elements) else ""

    def components(self, position: int) -> list[str]:
        return self[position].split(self.component)

    def problem(self, message: str) -> Problem:
        return Problem(self.index, self.tag, message)

    def decimal(self, position: int, problems: list[Problem]) -> Decimal | None:
        """Element ``position`` as a Decimal; None when empty; a Problem (and None) when not a number."""
        raw = self[position]
        if not raw:
            return None
        try:
            return Decimal(raw)
        except InvalidOperation:
            problems.append(self.problem(f"{self.tag}{position:02d} {raw!r} is not a number"))
            return None

    def __repr__(self) -> str:
        return f"Segment({self.index}, {'*'.join(self.elements)!r})"


def _detect(head: str) -> tuple[Delimiters, str | None]:
    """Delimiters from the ISA header, else inferred; the second value explains an inference."""
    if head.startswith("ISA") and len(head) > 4:
        sep = head[3]
        positions = [i for i, ch in enumerate(head[:200]) if ch == sep]
        if len(positions) >= 16 and len(head) > positions[15] + 2:
            p16 = positions[15]
            isa11 = head[:p16].split(sep)[11]
            repetition = isa11 if len(isa11) == 1 and not isa11.isalnum() else "^"
            return Delimiters(sep, head[p16 + 1], repetition, head[p16 + 2]), None
        return Delimiters(element=sep), "ISA header is truncated; default delimiters assumed"
    match = re.match(r"[A-Z][A-Z0-9]{1,2}([^A-Za-z0-9\s])", head)
    element = match.group(1) if match else "*"
    terminator = "~" if "~" in head else "\n"
    hint = _COMPONENT_HINT.search(head.replace(element, "*"))
    component = hint.group(1) if hint else ":"
    note = (
        f"no ISA envelope: delimiters inferred (element {element!r}, component {component!r}, segment {terminator!r})"
    )
    return Delimiters(element, component, "^", terminator), note


class SegmentReader:
    """Iterate the segments of an X12 string or text stream, chunk by chunk."""

    def __init__(self, source: str | TextIO, *, chunk_size: int = CHUNK_SIZE) -> None:
        self._stream: TextIO = io.StringIO(source) if isinstance(source, str) else source
        self._chunk_size = chunk_size
        self.problems: list[Problem] = []
        self.has_interchange = False
        head = self._stream.read(max(chunk_size, 1024)).lstrip("\ufeff \t\r\n")
        self._head = head
        self.delimiters, note = _detect(head)
        self.has_interchange = head.startswith("ISA")
        if note:
            self.problems.append(Problem(0, "", note))
        if not head:
            self.problems.append(Problem(0, "", "input is empty"))

    def __iter__(self) -> Iterator[Segment]:
        d = self.delimiters
        terminator, element, component = d.segment, d.element, d.component
        buffer, index, eof = self._head, 0, False
        while not eof:
            chunk = self._stream.read(self._chunk_size)
            eof = not chunk
            pieces = (buffer + chunk).split(terminator)
            buffer = "" if eof else pieces.pop()
            for piece in pieces:
                text = piece.strip()
                if text:
                    index += 1
                    yield Segment(index, text.split(element), component)


class EnvelopeTracker:
    """Checks ISA/IEA, GS/GE and ST/SE pairing, control numbers and counts; records problems."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.interchange_control = ""
        self.group_control = ""
        self.implementation = ""
        self.transaction_control = ""
        self._st_index = 0
        self._groups = 0
        self._transactions = 0

    def see(self, seg: Segment) -> bool:
        """Handle an envelope segment; ``False`` when ``seg`` is not one."""
        tag = seg.tag
        if tag == "ISA":
            self.interchange_control, self._groups = seg[13], 0
        elif tag == "GS":
            self.group_control, self.implementation, self._transactions = seg[6], seg[8], 0
            self._groups += 1
        elif tag == "ST":
            self.transaction_control, self._st_index = seg[2], seg.index
            self.implementation = seg[3] or self.implementation
            self._transactions += 1
        elif tag == "SE":
            self._close("SE", seg, seg.index - self._st_index + 1, self.transaction_control)
        elif tag == "GE":
            self._close("GE", seg, self._transactions, self.group_control)
        elif tag == "IEA":
            self._close("IEA", seg, self._groups, self.interchange_control)
        else:
            return False
        return True

    def _close(self, tag: str, seg: Segment, counted: int, control: str) -> None:
        if seg[2] != control:
            self.problems.append(
                seg.problem(f"{tag}02 {seg[2]!r} does not match the header's control number {control!r}")
            )
        if tag == "SE" and self._st_index == 0:
            return
        if seg[1] != str(counted):
            self.problems.append(seg.problem(f"{tag}01 says {seg[1]!r} but {counted} were counted"))
