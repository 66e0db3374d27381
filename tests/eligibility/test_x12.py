"""X12 270 out (checked with pyx12) and 271 in (the LinuxForHealth samples), and the X12 adapter over HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path

import httpx
import respx

from app.domain.eligibility import EligibilityEndpoint, EligibilityRequest
from app.eligibility.port import EligibilityPort
from app.eligibility.x12 import build_270, read_271
from app.x12.tokenizer import SegmentReader
from tests.x12.x12_pyx12 import pyx12_check

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "x12" / "linuxforhealth-x12"
NOW = datetime(2026, 12, 3, 15, 4, tzinfo=UTC)
REQUEST = EligibilityRequest(
    coverage="Coverage/c1",
    patient="Patient/p1",
    payer_id="842610001",
    payer_name="ABC Company",
    service_date=date(2026, 10, 6),
    member_id="11122333301",
    family="Smith",
    given="Robert",
    birth_date="1943-05-19",
    gender="male",
    provider_npi="1543829075",
    provider_name="Lakeview Medical Group",
    service_types=("30", "98"),
    trace="cb-elig-7",
)
X12_URL = "http://clearinghouse.test/x12/realtime"


def as_4010(text: str) -> str:
    """The same inquiry under pyx12's 004010X092A1 map: pyx12 4.0 ships no 005010X279A1 map, and the
    two guides share the 270's loops and segments; only the envelope version, ISA11, ST03 and the
    5010-only date qualifier 291 (4010: 307) differ."""
    return (
        text.replace("*^*00501*", "*U*00401*")
        .replace("*X*005010X279A1~", "*X*004010X092A1~")
        .replace("*005010X279A1~BHT", "~BHT")
        .replace("DTP*291*", "DTP*307*")
    )


def test_the_270_follows_the_guide_and_pyx12_accepts_it() -> None:
    text = build_270(REQUEST, receiver_id="842610001", control=1234567, now=NOW)
    segments = list(SegmentReader(text))
    tags = [s.tag for s in segments]
    assert tags[:3] == ["ISA", "GS", "ST"] and tags[-2:] == ["GE", "IEA"]
    st = segments[2]
    assert (st[1], st[3]) == ("270", "005010X279A1") and segments[1][8] == "005010X279A1"
    se = next(s for s in segments if s.tag == "SE")
    assert int(se[1]) == tags.index("SE") - tags.index("ST") + 1 and se[2] == st[2]
    nm1 = {s[1]: s for s in segments if s.tag == "NM1"}
    assert nm1["IL"][9] == "11122333301" and (nm1["1P"][8], nm1["1P"][9]) == ("XX", "1543829075")
    assert [s[1] for s in segments if s.tag == "EQ"] == ["30", "98"]
    assert next(s for s in segments if s.tag == "DTP").elements[1:4] == ["291", "D8", "20261006"]
    ok, errors, _ = pyx12_check(as_4010(text))
    assert ok and not errors, errors


def test_reading_the_active_271() -> None:
    result = read_271((SAMPLES / "271_subscriber.271").read_text(), REQUEST, now=NOW)
    assert (result.status, result.inforce, result.source) == ("active", True, "x12")
    assert result.outcome == "active: GOLD 123 PLAN"
    assert result.benefit_period == ("2006-01-01", None)
    copays = {(b.service_type, b.network): b.amount for b in result.benefits if b.kind == "copay"}
    assert copays[("98", "in")] == 10.0 and copays[("98", "out")] == 30.0
    assert len(copays) == 20  # ten service types, in and out of network


def test_reading_the_dependent_and_the_rejected_271() -> None:
    dependent = read_271((SAMPLES / "271_dependent.271").read_text(), REQUEST, now=NOW)
    assert dependent.status == "active"
    rejected = read_271((SAMPLES / "271_subscriber-error-AAA.271").read_text(), REQUEST, now=NOW)
    assert rejected.status == "error" and [e.code for e in rejected.errors] == ["50"]
    assert "NPI" in rejected.errors[0].fix and not rejected.errors[0].identity


def test_the_x12_adapter_posts_a_270_and_reads_the_271() -> None:
    endpoint = EligibilityEndpoint(adapter="x12", x12_url=X12_URL, max_attempts=1)
    answer = (SAMPLES / "271_subscriber.271").read_text()

    async def run() -> str:
        port = EligibilityPort(clock=lambda: NOW, control_numbers=count(1).__next__)
        try:
            return (await port.verify(REQUEST, endpoint)).status
        finally:
            await port.aclose()

    with respx.mock() as clearinghouse:
        route = clearinghouse.post(X12_URL).mock(return_value=httpx.Response(200, text=answer))
        assert asyncio.run(run()) == "active"
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/edi-x12" and sent.content.startswith(b"ISA*00*")
