"""The X12 adapter: a 270 (005010X279A1) out, the 271 back, over HTTP real time: through the
clearinghouse API (``clearinghouse.api.eligibility_path``, its OAuth2 token and the interchange
identities of ``config/clearinghouse.yaml``; :mod:`app.eligibility.clearinghouse`), or, when the payer
profile gives one, straight to ``eligibility.x12_url``. Either way the 270 is POSTed as
``application/edi-x12`` and the body of the answer is the 271.

:func:`build_270` writes one inquiry (information source = the payer, receiver = the billing
provider by NPI, subscriber with member id, name, birth date and gender, the date of service as
``DTP*291``, one ``EQ`` per service type). Segments are built as element lists and joined by one
writer, never by string formatting of whole segments.

:func:`read_271` reads the answer with the project's lenient tokenizer (:mod:`app.x12.tokenizer`;
why not x12sdk: docs/adr/0015-real-time-eligibility.md): ``AAA`` rejections with their reasons
(any loop), ``EB`` active (1) / inactive (6, 7, 8), co-insurance (A), co-payment (B), deductible (C),
out-of-pocket (G), other payer (R, named by the following 2120 ``NM1``), amounts by service type,
network (EB12), authorization required (EB11), and plan dates (``DTP`` 291/346/347/356/357).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import httpx

from app.domain.eligibility import (
    Benefit,
    EligibilityEndpoint,
    EligibilityRequest,
    EligibilityResult,
    PayerError,
    payer_error,
)
from app.eligibility.clearinghouse import Identities
from app.eligibility.errors import InvalidPayerResponse
from app.eligibility.port import post
from app.eligibility.x12_270 import GUIDE, build_270

__all__ = ["GUIDE", "X12Adapter", "build_270", "read_271", "read_271_segments"]
from app.errors import ConfigError
from app.x12.tokenizer import Segment, SegmentReader

DIRECT = Identities()  # a 270 posted straight to a payer's x12_url
KINDS = {"A": "coinsurance", "B": "copay", "C": "deductible", "G": "out-of-pocket", "F": "limit"}
INACTIVE = frozenset({"6", "7", "8"})
LEVELS = {"IND": "individual", "FAM": "family"}
PERIODS = {"27": "visit", "23": "year", "22": "year", "29": "remaining", "24": "year-to-date", "32": "lifetime"}


def _date(value: str) -> str | None:
    value = value.strip()
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) >= 8 and value[:8].isdigit() else None


@dataclass
class _State:
    inforce: bool | None = None
    outcome: str | None = None
    start: str | None = None
    end: str | None = None
    other_payer: str | None = None
    in_other_payer: bool = False


def _eb(seg: Segment, repetition: str, state: _State, benefits: list[Benefit], auth: list[str]) -> None:
    code = seg[1]
    services: list[str | None] = [s for s in seg[3].split(repetition) if s] or [None]
    if code == "1":
        state.inforce = True if state.inforce is None else state.inforce
        state.outcome = state.outcome or (f"active: {seg[5]}" if seg[5] else "active coverage")
    elif code in INACTIVE:
        state.inforce = False
        state.outcome = f"inactive ({code})" + (f": {seg[5]}" if seg[5] else "")
    elif code == "R":
        state.other_payer = seg[5] or state.other_payer or "another payer"
        state.in_other_payer = True
        return
    if seg[11] == "Y":
        auth += [s for s in services if s]
    kind = KINDS.get(code)
    if kind is None:
        return
    amount = float(seg[7]) if _is_number(seg[7]) else None
    percent = float(seg[8]) if _is_number(seg[8]) else None
    period = PERIODS.get(seg[6])
    network = {"Y": "in", "N": "out"}.get(seg[12])
    for service in services:
        benefit = Benefit(kind=kind, service_type=service, network=network, level=LEVELS.get(seg[2]), period=period,
                          percent=percent if kind == "coinsurance" else None,
                          authorization_required={"Y": True, "N": False}.get(seg[11]), text=seg[5] or None)  # fmt: skip
        if kind == "coinsurance":
            benefits.append(benefit)
            continue
        if period == "remaining":
            benefit = replace(benefit, remaining=amount)
        elif period == "year-to-date":
            benefit = replace(benefit, used=amount)
        else:
            benefit = replace(benefit, amount=amount)
        benefits.append(benefit)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _merge(benefits: list[Benefit]) -> tuple[Benefit, ...]:
    """One deductible / out-of-pocket per (kind, service, network, level): total, used and remaining together."""
    merged: dict[tuple[object, ...], Benefit] = {}
    out: list[Benefit] = []
    for b in benefits:
        if b.kind not in ("deductible", "out-of-pocket"):
            out.append(b)
            continue
        key = (b.kind, b.service_type, b.network, b.level)
        have = merged.get(key)
        if have is None:
            merged[key] = b
            out.append(b)
            continue
        combined = replace(have, amount=have.amount if have.amount is not None else b.amount,
                           used=have.used if have.used is not None else b.used,
                           remaining=have.remaining if have.remaining is not None else b.remaining)  # fmt: skip
        out[out.index(have)] = combined
        merged[key] = combined
    return tuple(out)


def read_271(
    text: str, request: EligibilityRequest, *, now: datetime, latency: float | None = None
) -> EligibilityResult:
    """The 271 answer as a stored result."""
    reader = SegmentReader(text)
    return read_271_segments(reader, reader.delimiters.repetition, request, now=now, latency=latency)


def read_271_segments(
    segments: Iterable[Segment],
    repetition: str,
    request: EligibilityRequest,
    *,
    now: datetime,
    latency: float | None = None,
) -> EligibilityResult:
    """One 271 transaction (its segments; the interchange's repetition separator) as a stored result."""
    state = _State()
    benefits: list[Benefit] = []
    auth: list[str] = []
    errors: list[PayerError] = []
    seen_st = False
    for seg in segments:
        tag = seg.tag
        if tag == "ST":
            if seg[1] != "271":
                raise InvalidPayerResponse(f"payer answered a {seg[1] or 'non-X12'} transaction, not a 271")
            seen_st = True
        elif tag == "AAA" and seg[3]:
            errors.append(payer_error(seg[3]))
        elif tag == "EB":
            state.in_other_payer = False
            _eb(seg, repetition, state, benefits, auth)
        elif tag == "NM1" and state.in_other_payer and seg[3]:
            state.other_payer = seg[3]
        elif tag == "DTP":
            _dtp(seg, state)
    if not seen_st:
        raise InvalidPayerResponse("payer answered something that is not a 271")
    status, reason = _status(errors, state)
    return EligibilityResult(
        status=status,
        coverage=request.coverage,
        patient=request.patient,
        payer_id=request.payer_id,
        service_date=request.service_date.isoformat(),
        checked_at=now.isoformat(),
        source="x12",
        outcome=state.outcome or ("; ".join(e.text for e in errors) if errors else None),
        inforce=state.inforce,
        benefit_period=(state.start, state.end) if state.start or state.end else None,
        benefits=_merge(benefits),
        errors=tuple(errors),
        other_payer=state.other_payer,
        authorization_required=tuple(dict.fromkeys(auth)),
        reason=reason,
        latency_seconds=latency,
    )


def _dtp(seg: Segment, state: _State) -> None:
    qualifier, fmt, value = seg[1], seg[2], seg[3]
    if fmt == "RD8" and "-" in value and qualifier in ("291", "292", "307", "346"):
        first, last = value.split("-", 1)
        state.start, state.end = _date(first), _date(last)
    elif qualifier in ("346", "356"):
        state.start = _date(value)
    elif qualifier in ("347", "357"):
        state.end = _date(value)


def _status(errors: list[PayerError], state: _State) -> tuple[str, str | None]:
    if errors and all(e.temporary for e in errors):
        return "unverified", "the payer could not answer now: " + "; ".join(e.text for e in errors)
    if errors:
        return "error", None
    if state.inforce is True:
        return "active", None
    if state.inforce is False:
        return "inactive", None
    return "unverified", "the 271 carried no eligibility or benefit segment"


@dataclass
class X12Adapter:
    """``url``: the clearinghouse's real-time path (``identities`` from config/clearinghouse.yaml) or the
    payer's own ``x12_url`` (``DIRECT`` identities)."""

    endpoint: EligibilityEndpoint
    client: httpx.AsyncClient
    url: str
    identities: Identities = DIRECT
    #: The next interchange control number (the database counter, taken in its own short transaction).
    control_numbers: Callable[[], int] | None = None
    source: str = "x12"

    async def verify(self, request: EligibilityRequest, *, now: datetime) -> EligibilityResult:
        if self.control_numbers is None:
            raise ConfigError("eligibility", None, "x12", "no control number counter for the 270")
        control = await asyncio.to_thread(self.control_numbers)  # a short transaction off the event loop
        receiver = self.endpoint.x12_receiver_id or request.payer_id
        text = build_270(request, receiver_id=receiver, control=control, now=now, identities=self.identities)
        headers = {"Idempotency-Key": request.trace} if request.trace else {}
        response = await post(
            self.client, self.url, content=text.encode(), content_type="application/edi-x12",
            limit=self.endpoint.timeout_seconds, headers=headers,
        )  # fmt: skip
        return read_271(response.text, request, now=now)
