"""X12 benchmark: streamed 837P writing and streamed 835 reading, against raw-string floors.

Run: ``.venv/bin/python bench/x12.py [--claims N]``. Each phase runs in its own process so its peak
RSS (``resource.getrusage``) is its own. Phases:

* ``write``: N claims × 3 lines through ``write_837p`` to a file (time, peak RSS);
* ``raw``: the same claims through a hand-joined string writer producing byte-identical output
  (the floor; ratio = raw CPU time / our CPU time, CPU rather than wall time because the box may
  be shared). Both consume the same claim generator, so its cost is in both times. Writer and
  floor alternate ``--repeat`` times; the best of each is kept;
* ``gen835`` + ``read835``: an 835 of N CLP loops, read with ``iter_835`` (and at N/10 to show that
  memory stays flat in file size), against a raw split-and-count floor.

One JSON line per metric; the last line is the combined verdict.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app.x12 import (
    Address,
    BillingProvider,
    ClaimInput,
    Envelope,
    Payer,
    PersonName,
    RenderingProvider,
    SequentialControlNumbers,
    ServiceLineInput,
    Submitter,
    Subscriber,
    iter_835,
    write_837p,
)
from app.x12.remit_835 import ClaimPayment

TARGET_WRITE_S, TARGET_RSS_MB, TARGET_READ_S, TARGET_RATIO, TARGET_FLAT_MB = 10.0, 150.0, 15.0, 0.5, 20.0
CODES = ["99213", "99214", "85025", "80053", "36415", "93000"]
DX = ["J069", "E119", "I10", "M5450", "R509", "Z0000"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- input generation (shared by both writers) ------------------------------------------------------
def envelope() -> Envelope:
    return Envelope(
        sender_id="CLAIMBRIDGE",
        receiver_id="CLEARINGHOUSE",
        receiver_name="ACME CLEARINGHOUSE",
        submitter=Submitter("LAKEVIEW CLINIC", "SUB0001", "BILLING OFFICE", "6145550100"),
        created=datetime(2026, 11, 20, 9, 45),
        control_numbers=SequentialControlNumbers(7),
    )


def claims(n: int, lines: int) -> Iterator[ClaimInput]:
    provider = BillingProvider(
        "1234567893",
        "311234567",
        Address("400 HIGH ST", "COLUMBUS", "OH", "432151234"),
        organization_name="LAKEVIEW CLINIC",
        taxonomy="207Q00000X",
    )
    payer = Payer("BUCKEYE MUTUAL", "60054")
    rendering = RenderingProvider("1912301953", PersonName("HOUSE", "GREG"), "207Q00000X")
    subscribers = [
        Subscriber(
            PersonName(f"LAST{i}", f"FIRST{i}"),
            f"M{i:08d}",
            date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
            "FM"[i % 2],
            Address(f"{i} OAK ST", "COLUMBUS", "OH", "43215"),
        )
        for i in range(997)
    ]
    day = date(2026, 11, 2)
    for i in range(n):
        dx = (DX[i % 6], DX[(i + 1) % 6])
        svc = tuple(
            ServiceLineInput(
                CODES[(i + k) % 6], Decimal(100 + k * 25 + i % 50), Decimal(1), day, (1, 2) if k == 0 else (1,)
            )
            for k in range(lines)
        )
        yield ClaimInput(
            claim_id=f"C{i:09d}",
            total_charge=sum((s.charge for s in svc), Decimal(0)),
            place_of_service="11",
            diagnoses=dx,
            lines=svc,
            billing_provider=provider,
            subscriber=subscribers[i % 997],
            payer=payer,
            filing_indicator="CI",
            rendering_provider=rendering,
        )


# -- the floor: hand-joined segments, no models, no checks -------------------------------------------
def d8(d: date) -> str:
    return d.isoformat().replace("-", "")


def raw_write(items: Iterator[ClaimInput], out: TextIO, env: Envelope) -> None:
    control = env.control_numbers()
    c = env.created
    s = env.submitter
    head = [
        f"ISA*00*{' ' * 10}*00*{' ' * 10}*ZZ*{env.sender_id:<15}*ZZ*{env.receiver_id:<15}"
        f"*{c:%y%m%d}*{c:%H%M}*^*00501*{control:09d}*0*P*:",
        f"GS*HC*{env.sender_id}*{env.receiver_id}*{c:%Y%m%d}*{c:%H%M}*{control}*X*005010X222A1",
    ]
    out.write("~".join(head) + "~")
    st = hl = st_segs = bp_hl = 0
    for count, claim in enumerate(items):
        segs: list[str] = []
        if count % 5000 == 0:
            if count:
                out.write(f"SE*{st_segs + 1}*{st:04d}~")
            st += 1
            st_segs = 0
            hl = 0
            segs += [
                f"ST*837*{st:04d}*005010X222A1",
                f"BHT*0019*00*{control}{st:04d}*{c:%Y%m%d}*{c:%H%M}*CH",
                f"NM1*41*2*{s.name}*****46*{s.identifier}",
                f"PER*IC*{s.contact_name}*TE*{s.phone}",
                f"NM1*40*2*{env.receiver_name}*****46*{env.receiver_id}",
            ]
        b = claim.billing_provider
        if hl == 0:
            hl = bp_hl = 1
            a = b.address
            segs += [
                "HL*1**20*1",
                f"PRV*BI*PXC*{b.taxonomy}",
                f"NM1*85*2*{b.organization_name}*****XX*{b.npi}",
                f"N3*{a.line1}",
                f"N4*{a.city}*{a.state}*{a.postal_code}",
                f"REF*EI*{b.tin}",
            ]
        hl += 1
        sub = claim.subscriber
        sa, n = sub.address, sub.name
        assert sa is not None and sub.birth_date is not None
        segs += [
            f"HL*{hl}*{bp_hl}*22*0",
            f"SBR*P*18*******{claim.filing_indicator}",
            f"NM1*IL*1*{n.last}*{n.first}****MI*{sub.member_id}",
            f"N3*{sa.line1}",
            f"N4*{sa.city}*{sa.state}*{sa.postal_code}",
            f"DMG*D8*{d8(sub.birth_date)}*{sub.sex}",
            f"NM1*PR*2*{claim.payer.name}*****PI*{claim.payer.payer_id}",
            f"CLM*{claim.claim_id}*{claim.total_charge}***{claim.place_of_service}:B:{claim.frequency}*Y*A*Y*Y",
            "HI*" + "*".join(("ABK:" if i == 0 else "ABF:") + code for i, code in enumerate(claim.diagnoses)),
        ]
        r = claim.rendering_provider
        if r is not None:
            segs += [f"NM1*82*1*{r.name.last}*{r.name.first}****XX*{r.npi}", f"PRV*PE*PXC*{r.taxonomy}"]
        for k, ln in enumerate(claim.lines, start=1):
            ptr = ":".join(str(p) for p in ln.pointers)
            segs += [
                f"LX*{k}",
                f"SV1*HC:{ln.code}*{ln.charge}*UN*{ln.units}***{ptr}",
                f"DTP*472*D8*{d8(ln.service_date)}",
            ]
        out.write("~".join(segs) + "~")
        st_segs += len(segs)
    out.write(f"SE*{st_segs + 1}*{st:04d}~GE*{st}*{control}~IEA*1*{control:09d}~")


# -- 835 generation and the raw reading floor ---------------------------------------------------------
def generate_835(path: str, n: int) -> None:
    with open(path, "w") as out:
        out.write(
            "ISA*00*          *00*          *ZZ*PAYER          *ZZ*CLAIMBRIDGE    *261120*0945*^*00501*000000001*0*P*:~"
            "GS*HP*PAYER*CLAIMBRIDGE*20261120*0945*1*X*005010X221A1~ST*835*0001~"
            f"BPR*I*{n * 180}*C*ACH*CCP*01*999999992*DA*123456*1512345678**01*999988880*DA*98765*20261125~"
            "TRN*1*EFT12345*1512345678~DTM*405*20261124~N1*PR*BUCKEYE MUTUAL~N1*PE*LAKEVIEW CLINIC*XX*1234567893~LX*1~"
        )
        count = 8  # ST, BPR, TRN, DTM, N1, N1, LX + SE
        for i in range(n):
            carc = ("45", "29", "197", "2")[i % 4]
            out.write(
                f"CLP*C{i:09d}*1*375*180*20*12*PCN{i:011d}*11*1~NM1*QC*1*LAST{i}*FIRST****MI*M{i:08d}~DTM*232*20261102~"
                f"SVC*HC:99213*125*60**1~DTM*472*20261102~CAS*CO*{carc}*65~AMT*B6*60~"
                f"SVC*HC:85025*125*60**1~DTM*472*20261102~CAS*CO*45*45*1*PR*2*20~AMT*B6*80~LQ*HE*N130~"
                f"SVC*HC:36415*125*60**1~DTM*472*20261102~CAS*CO*45*65~AMT*B6*60~"
            )
            count += 16
        out.write(f"SE*{count}*0001~GE*1*1~IEA*1*000000001~")


def read_835_ours(path: str) -> dict[str, Any]:
    claims_seen = lines = 0
    paid = Decimal(0)
    problems = 0
    with open(path) as stream:
        reader = iter_835(stream)
        for event in reader:
            if isinstance(event, ClaimPayment):
                claims_seen += 1
                lines += len(event.lines)
                paid += event.paid or 0
                problems += len(event.problems)
        problems += len(reader.problems)
    return {"claims": claims_seen, "lines": lines, "paid": str(paid), "problems": problems}


def read_835_raw(path: str) -> dict[str, Any]:
    claims_seen = lines = 0
    paid = Decimal(0)
    with open(path) as stream:
        rest = ""
        while chunk := stream.read(1 << 16):
            parts = (rest + chunk).split("~")
            rest = parts.pop()
            for seg in parts:
                el = seg.strip().split("*")
                if el[0] == "CLP":
                    claims_seen += 1
                    paid += Decimal(el[4])
                elif el[0] == "SVC":
                    lines += 1
    return {"claims": claims_seen, "lines": lines, "paid": str(paid), "problems": 0}


# -- phases -------------------------------------------------------------------------------------------
def run_phase(phase: str, n: int, lines: int, path: str) -> dict[str, Any]:
    start, cpu_start = time.perf_counter(), time.process_time()
    info: dict[str, Any] = {}
    if phase == "write":
        with open(path, "w") as out:
            summary = write_837p(claims(n, lines), out, envelope=envelope())
        info = {"claims": summary.claim_count, "segments": summary.segment_count}
    elif phase == "raw":
        with open(path, "w") as out:
            raw_write(claims(n, lines), out, envelope())
    elif phase == "gen835":
        generate_835(path, n)
    elif phase == "read835":
        info = read_835_ours(path)
    elif phase == "raw835":
        info = read_835_raw(path)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"phase": phase, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb(), **info}


def child(phase: str, n: int, lines: int, path: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--claims", str(n), "--lines", str(lines), "--path", path]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def metric(
    name: str, value: float, unit: str, floor: float | None, target: float, ok: bool, ratio: float | None = None
) -> dict[str, Any]:
    """One result line; ``ratio`` defaults to floor / value (how close we are to the floor)."""
    ratio = (
        round(ratio if ratio is not None else floor / value, 3) if (ratio is not None or (floor and value)) else None
    )
    return {
        "bench": "x12",
        "metric": name,
        "value": round(value, 3),
        "unit": unit,
        "floor": None if floor is None else round(floor, 3),
        "ratio": ratio,
        "target": target,
        "pass": ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--phase", default="")
    parser.add_argument("--path", default="")
    parser.add_argument("--repeat", type=int, default=5, help="writer runs (alternating with the floor); best kept")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.claims, args.lines, args.path)))
        return
    n, tmp = args.claims, tempfile.mkdtemp(prefix="bench-x12-")
    ours_path, raw_path, remit_path, small_path = (
        os.path.join(tmp, f) for f in ("ours.837", "raw.837", "big.835", "small.835")
    )
    runs = [
        (child("write", n, args.lines, ours_path), child("raw", n, args.lines, raw_path)) for _ in range(args.repeat)
    ]
    write = min((w for w, _ in runs), key=lambda r: r["cpu_seconds"])
    raw = min((r for _, r in runs), key=lambda r: r["cpu_seconds"])
    identical = sha256(ours_path) == sha256(raw_path)
    size_mb = os.path.getsize(ours_path) / 2**20
    print(
        json.dumps(
            {
                "bench": "x12",
                "info": "837p",
                "claims": write["claims"],
                "segments": write["segments"],
                "file_mb": round(size_mb, 1),
                "raw_output_identical": identical,
                "raw_rss_mb": raw["peak_rss_mb"],
            }
        )
    )
    child("gen835", n, 3, remit_path)
    child("gen835", max(n // 10, 1), 3, small_path)
    big, small = child("read835", n, 3, remit_path), child("read835", max(n // 10, 1), 3, small_path)
    raw835 = child("raw835", n, 3, remit_path)
    print(
        json.dumps(
            {
                "bench": "x12",
                "info": "835",
                "claims": big["claims"],
                "lines": big["lines"],
                "file_mb": round(os.path.getsize(remit_path) / 2**20, 1),
                "problems": big["problems"],
                "counts_match_floor": big["claims"] == raw835["claims"] and big["paid"] == raw835["paid"],
            }
        )
    )
    ratio = raw["cpu_seconds"] / write["cpu_seconds"]
    growth = big["peak_rss_mb"] - small["peak_rss_mb"]
    metrics = [
        metric(
            "837p_write_seconds",
            write["seconds"],
            "s",
            raw["seconds"],
            TARGET_WRITE_S,
            write["seconds"] <= TARGET_WRITE_S and identical,
        ),
        metric(
            "837p_peak_rss",
            write["peak_rss_mb"],
            "MB",
            raw["peak_rss_mb"],
            TARGET_RSS_MB,
            write["peak_rss_mb"] <= TARGET_RSS_MB,
        ),
        metric(
            "837p_writer_ratio", ratio, "raw/ours cpu", raw["cpu_seconds"], TARGET_RATIO, ratio >= TARGET_RATIO, ratio
        ),
        metric(
            "835_read_seconds", big["seconds"], "s", raw835["seconds"], TARGET_READ_S, big["seconds"] <= TARGET_READ_S
        ),
        metric(
            "835_rss_growth_10x_file",
            growth,
            "MB",
            None,
            TARGET_FLAT_MB,
            growth <= TARGET_FLAT_MB and big["claims"] == n,
        ),
    ]
    for m in metrics:
        print(json.dumps(m))
    passed = sum(m["pass"] for m in metrics)
    print(
        json.dumps(
            {
                "bench": "x12",
                "metric": "verdict",
                "value": passed,
                "unit": "metrics passed",
                "floor": None,
                "ratio": round(ratio, 3),
                "target": len(metrics),
                "pass": passed == len(metrics),
            }
        )
    )
    for path in (ours_path, raw_path, remit_path, small_path):
        os.remove(path)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
