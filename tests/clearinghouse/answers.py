"""Hand-built clearinghouse answers (999, 277CA, 835) for the claims of a submitted batch.

Each builder returns a complete interchange (ISA … IEA) with correct segment counts, so the lenient
readers report no parse issue for them; tests vary what matters (verdicts, amounts, CARCs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


def _isa(control: int, when: date) -> str:
    return (
        f"ISA*00*{' ' * 10}*00*{' ' * 10}*ZZ*{'DEMOCLEARING':<15}*ZZ*{'CLAIMBRIDGE':<15}*"
        f"{when:%y%m%d}*1200*^*00501*{control:09d}*0*T*:"
    )


def interchange(functional_id: str, implementation: str, set_id: str, body: list[str], *, control: int,
                when: date, st_implementation: bool = True) -> str:  # fmt: skip
    st = f"ST*{set_id}*0001" + (f"*{implementation}" if st_implementation else "")
    segments = [
        _isa(control, when),
        f"GS*{functional_id}*DEMOCLEARING*CLAIMBRIDGE*{when:%Y%m%d}*1200*{control}*X*{implementation}",
        st,
        *body,
        f"SE*{len(body) + 2}*0001",
        f"GE*1*{control}",
        f"IEA*1*{control:09d}",
    ]
    return "~\n".join(segments) + "~\n"


@dataclass(frozen=True)
class TransactionVerdict:
    st02: str
    status: str  # IK501: A, E, R
    errors: tuple[str, ...] = ()  # IK3 / IK4 segments, as written


def ack_999(icn: int, verdicts: list[TransactionVerdict], *, when: date, control: int = 9001) -> str:
    body = [f"AK1*HC*{icn}*005010X222A1"]
    for v in verdicts:
        body += [f"AK2*837*{v.st02}*005010X222A1", *v.errors, f"IK5*{v.status}" + ("*5" if v.status == "R" else "")]
    accepted = sum(1 for v in verdicts if v.status in ("A", "E"))
    group = "A" if accepted == len(verdicts) else ("R" if accepted == 0 else "P")
    body.append(f"AK9*{group}*{len(verdicts)}*{len(verdicts)}*{accepted}")
    return interchange("FA", "005010X231A1", "999", body, control=control, when=when)


@dataclass(frozen=True)
class ClaimVerdict:
    pcn: str
    charge: Decimal
    status: str = "A2:20:PR"  # STC01 category:code:entity
    payer_icn: str = ""


def ack_277ca(claims: list[ClaimVerdict], *, when: date, control: int = 9002) -> str:
    day = f"{when:%Y%m%d}"
    body = [
        f"BHT*0085*08*277X214*{day}*1200*TH",
        "HL*1**20*1", "NM1*PR*2*DEMO PAYER*****PI*12345", "TRN*1*0091182", f"DTP*050*D8*{day}", f"DTP*009*D8*{day}",
        "HL*2*1*21*1", "NM1*41*2*LAKEVIEW FAMILY CLINIC*****46*SUB0001", "TRN*2*BATCH1",
        f"STC*A1:19:PR*{day}*WQ*{sum(c.charge for c in claims)}",
        "HL*3*2*19*1", "NM1*85*2*LAKEVIEW FAMILY CLINIC*****XX*1234567893",
    ]  # fmt: skip
    for n, c in enumerate(claims, start=4):
        action = "WQ" if c.status.startswith(("A1", "A2")) else "U"
        body += [f"HL*{n}*3*PT", "NM1*QC*1*PATIENT*TEST****MI*MBR000001", f"TRN*2*{c.pcn}",
                 f"STC*{c.status}*{day}*{action}*{c.charge}"]  # fmt: skip
        if c.payer_icn:
            body.append(f"REF*1K*{c.payer_icn}")
    return interchange("HN", "005010X214", "277", body, control=control, when=when)


@dataclass(frozen=True)
class Adj:
    group: str
    reason: str
    amount: Decimal


@dataclass(frozen=True)
class Line:
    code: str
    charge: Decimal
    paid: Decimal
    adjustments: tuple[Adj, ...] = ()
    allowed: Decimal | None = None
    service_date: str = "20261001"


@dataclass(frozen=True)
class Payment:
    pcn: str
    status: str  # CLP02
    lines: tuple[Line, ...]
    claim_adjustments: tuple[Adj, ...] = ()
    payer_icn: str = "ICN"
    remarks: tuple[str, ...] = field(default_factory=tuple)

    @property
    def charge(self) -> Decimal:
        return sum((ln.charge for ln in self.lines), Decimal(0))

    @property
    def paid(self) -> Decimal:
        return sum((ln.paid for ln in self.lines), Decimal(0))

    @property
    def patient_responsibility(self) -> Decimal:
        return sum((a.amount for ln in self.lines for a in ln.adjustments if a.group == "PR"), Decimal(0))


def _cas(adjustments: tuple[Adj, ...]) -> list[str]:
    return [f"CAS*{a.group}*{a.reason}*{a.amount}" for a in adjustments]


def remit_835(
    payments: list[Payment],
    *,
    when: date,
    payer_id: str = "60054",
    control: int = 9003,
    plb: tuple[tuple[str, str, Decimal], ...] = (),  # (reason, reference, amount): PLB*...*reason:reference*amount
    payment: Decimal | None = None,  # BPR02; default: what balances (claims paid less the PLB amounts)
) -> str:
    total = sum((p.paid for p in payments), Decimal(0)) - sum((a for _, _, a in plb), Decimal(0))
    total = total if payment is None else payment
    body = [
        f"BPR*I*{total}*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*{when:%Y%m%d}",
        "TRN*1*EFT000123*1512345678", f"DTM*405*{when:%Y%m%d}", f"N1*PR*DEMO PAYER*XV*{payer_id}",
        "N1*PE*LAKEVIEW FAMILY CLINIC*XX*1234567893",
    ]  # fmt: skip
    for n, p in enumerate(payments, start=1):
        body += [
            f"LX*{n}",
            f"CLP*{p.pcn}*{p.status}*{p.charge}*{p.paid}*{p.patient_responsibility}*12*{p.payer_icn}*11*1",
        ]
        body += _cas(p.claim_adjustments)
        body.append("NM1*QC*1*PATIENT*TEST****MI*MBR000001")
        if p.remarks:
            body.append("MOA***" + "*".join(p.remarks))
        for ln in p.lines:
            body += [f"SVC*HC:{ln.code}*{ln.charge}*{ln.paid}**1", f"DTM*472*{ln.service_date}", *_cas(ln.adjustments)]
            if ln.allowed is not None:
                body.append(f"AMT*B6*{ln.allowed}")
    for reason, reference, amount in plb:
        body.append(f"PLB*1234567893*{when.year}1231*{reason}:{reference}*{amount}")
    return interchange("HP", "005010X221A1", "835", body, control=control, when=when, st_implementation=False)


def clm01s(x12_text: str) -> list[str]:
    """CLM01 of every claim of an 837P, in file order."""
    segments = [s.strip() for s in x12_text.split("~")]
    return [s.split("*")[1] for s in segments if s.startswith("CLM*")]
