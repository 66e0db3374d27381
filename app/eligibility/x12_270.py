"""The 270 (005010X279A1) writer: one inquiry per interchange (real time) or a batch of them.

Segments are built as element lists and joined by one writer, never by string formatting of whole
segments. Control numbers come from the database counter (:func:`app.db.billing_repo.next_control_number`):
ISA13 and GS06 are the interchange's number; ST02 is the same number for a single inquiry and the
inquiry's position (``0001`` ...) in a batch, unique within its group.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.domain.eligibility import EligibilityRequest
from app.eligibility.clearinghouse import Identities

GUIDE = "005010X279A1"
MAX_CONTROL = 999_999_999
GENDERS = {"male": "M", "female": "F"}
DIRECT = Identities()


def _clean(value: str | None, limit: int) -> str:
    """An element value without delimiter characters, upper case, cut to ``limit``."""
    text = "".join(ch for ch in (value or "") if ch not in "*~:^\r\n").strip().upper()
    return text[:limit]


def _isa_id(value: str) -> str:
    return _clean(value, 15).ljust(15)


def write_segments(segments: list[list[str]]) -> str:
    """Join element lists into X12 text (``*`` elements, ``~`` terminator); trailing empties dropped."""
    out = []
    for elements in segments:
        while len(elements) > 1 and elements[-1] == "":
            elements = elements[:-1]
        out.append("*".join(elements) + "~")
    return "".join(out)


def build_270(
    request: EligibilityRequest,
    *,
    receiver_id: str,
    control: int,
    now: datetime,
    identities: Identities = DIRECT,
) -> str:
    """One 270 interchange for one subscriber; ISA13, GS06 and ST02 are ``control`` (a number of the
    database counter, :func:`app.db.billing_repo.next_control_number`); ISA/GS identities from
    ``identities`` (ISA08/GS03: ``receiver_id`` unless ``identities`` names the receiver)."""
    body = transaction_270(request, st02=f"{control:04d}", trace_fallback=f"{control:09d}", now=now)
    return interchange([body], receiver_id=receiver_id, control=control, now=now, identities=identities)


def build_batch_270(
    requests: Sequence[EligibilityRequest],
    *,
    receiver_id: str,
    control: int,
    now: datetime,
    identities: Identities = DIRECT,
) -> str:
    """One 270 interchange with one ST..SE per inquiry (ST02 ``0001``, ``0002`` ...: unique within
    the group; each inquiry's ``TRN02`` is its request's trace, which the 271 echoes)."""
    if not requests:
        raise ValueError("a batch 270 needs at least one inquiry")
    bodies = [
        transaction_270(request, st02=f"{n:04d}", trace_fallback=f"{control:09d}-{n}", now=now)
        for n, request in enumerate(requests, start=1)
    ]
    return interchange(bodies, receiver_id=receiver_id, control=control, now=now, identities=identities)


def interchange(
    bodies: Sequence[list[list[str]]], *, receiver_id: str, control: int, now: datetime, identities: Identities
) -> str:
    """ISA/GS around the transactions, GE/IEA after them; ISA13 = GS06 = ``control``."""
    if not 0 < control <= MAX_CONTROL:
        raise ValueError(f"control number {control} out of range 1..{MAX_CONTROL}")
    ids = identities
    receiver_id = ids.receiver_id or receiver_id
    isa13 = f"{control:09d}"
    hm = now.strftime("%H%M")
    envelope_open = [
        ["ISA", "00", " " * 10, "00", " " * 10, ids.sender_qualifier, _isa_id(ids.sender_id), ids.receiver_qualifier,
         _isa_id(receiver_id), now.strftime("%y%m%d"), hm, "^", "00501", isa13, "0", ids.usage, ":"],
        ["GS", "HS", _clean(ids.application_sender or ids.sender_id, 15),
         _clean(ids.application_receiver or receiver_id, 15), now.strftime("%Y%m%d"), hm, str(control), "X", GUIDE],
    ]  # fmt: skip
    envelope_close = [["GE", str(len(bodies)), str(control)], ["IEA", "1", isa13]]
    return write_segments(envelope_open) + "".join(write_segments(b) for b in bodies) + write_segments(envelope_close)


def transaction_270(request: EligibilityRequest, *, st02: str, trace_fallback: str, now: datetime) -> list[list[str]]:
    """The ST..SE of one inquiry (the subscriber's trace ``TRN02`` is the request's trace)."""
    ymd, hm = now.strftime("%Y%m%d"), now.strftime("%H%M")
    trace = _clean(request.trace or trace_fallback, 50)
    body: list[list[str]] = [
        ["ST", "270", st02, GUIDE],
        ["BHT", "0022", "13", trace, ymd, hm],
        ["HL", "1", "", "20", "1"],
        ["NM1", "PR", "2", _clean(request.payer_name, 60), "", "", "", "", "PI", _clean(request.payer_id, 80)],
        ["HL", "2", "1", "21", "1"],
        ["NM1", "1P", "2", _clean(request.provider_name or "PROVIDER", 60), "", "", "", "",
         *(["XX", request.provider_npi] if request.provider_npi else [])],
        ["HL", "3", "2", "22", "0"],
        ["TRN", "1", trace, "9" + st02[-9:].rjust(9, "0")],
        ["NM1", "IL", "1", _clean(request.family, 60), _clean(request.given, 35), "", "", "",
         *(["MI", _clean(request.member_id, 80)] if request.member_id else [])],
    ]  # fmt: skip
    if request.birth_date:
        body.append(["DMG", "D8", request.birth_date.replace("-", ""), GENDERS.get(request.gender or "", "")])
    body.append(["DTP", "291", "D8", request.service_date.strftime("%Y%m%d")])
    body += [["EQ", service] for service in request.service_types]
    body.append(["SE", str(len(body) + 1), st02])
    return body
