"""Read any inbound X12 file: identify the transaction set and hand it to the right reader.

:func:`read_x12` returns the reader's result (999, 277CA, 835) or, for sets this package does not
read (837, 270/271, 276/277 X212 ...), an :class:`UnsupportedTransaction` that says what the file
is. It never raises on content. For large 835 files use :func:`app.x12.read_835.iter_835` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.x12.read_277ca import Ack277, read_277ca
from app.x12.read_835 import read_835
from app.x12.read_999 import Ack999, read_999
from app.x12.remit_835 import Remittance835
from app.x12.tokenizer import Problem, SegmentReader


@dataclass(slots=True)
class UnsupportedTransaction:
    set_id: str  # ST01 ('' when no ST was found)
    implementation: str  # ST03 or GS08
    segment_count: int
    problems: list[Problem] = field(default_factory=list)


X12Document = Ack999 | Ack277 | Remittance835 | UnsupportedTransaction


def identify(text: str) -> tuple[str, str, int, list[Problem]]:
    """(ST01, implementation, segment count, tokenizer problems) of an X12 text."""
    reader = SegmentReader(text)
    set_id = implementation = ""
    count = 0
    for seg in reader:
        count += 1
        if seg.tag == "GS" and not implementation:
            implementation = seg[8]
        elif seg.tag == "ST" and not set_id:
            set_id, implementation = seg[1], seg[3] or implementation
    return set_id, implementation, count, reader.problems


def read_x12(text: str) -> X12Document:
    """Parse a 999, 277CA (X214) or 835; report anything else as :class:`UnsupportedTransaction`."""
    set_id, implementation, count, problems = identify(text)
    if set_id == "999":
        return read_999(text)
    if set_id == "277" and implementation.startswith("005010X214"):
        return read_277ca(text)
    if set_id == "835":
        return read_835(text)
    reason = f"transaction set {set_id or '(none found)'} {implementation} is not read by claimbridge"
    return UnsupportedTransaction(set_id, implementation, count, [*problems, Problem(0, "ST", reason)])
