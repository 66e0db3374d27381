"""Loop models of the 837P (005010X222A1), named after the guide, with its invariants as validators.

=========  ==============================================================
Loop2010AA billing provider name/address/TIN (NM1*85, N3, N4 9-digit ZIP, REF*EI)
Loop2000A  billing provider level (PRV*BI) + 2010AA
Loop2010BA subscriber (NM1*IL; N3/N4/DMG required when the subscriber is the patient)
Loop2010BB payer (NM1*PR*...*PI)
Loop2000B  subscriber level: SBR + 2010BA + 2010BB
Loop2010CA patient (NM1*QC, N3, N4, DMG) — 2000C exists only when patient ≠ subscriber
Loop2000C  patient level: PAT + 2010CA
Loop2310B  rendering provider (NM1*82 person, PRV*PE)
Loop2410   drug identification (LIN*N4 + CTP)
Loop2400   service line (LX, SV1, DTP*472, 2410, 2420A rendering provider as NM1*82 / PRV*PE)
Loop2300   claim (CLM, REF*G1, REF*F8, HI, 2310B, 2400s): CLM02 = Σ SV102, pointers in range
ClaimLoops one claim's 2000A/2000B/2000C/2300, consistent with each other
=========  ==============================================================

Like the segment models these are slotted, non-frozen dataclasses built once and never changed.
``segments(...)`` methods append rendered segments (no terminator) to a list; hierarchical ids
are given by the writer because they depend on where the claim falls in the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from app.x12.errors import GuideViolation
from app.x12.loops_837p_parties import Loop2010AB, Loop2310C, Loop2320, Loop2430, PartyLoop
from app.x12.segments_837p import CLM, CTP, DMG, HI, LIN, N3, N4, NM1, PAT, PRV, REF, SBR, SV1
from app.x12.syntax import check_no_delimiters, check_text, format_date

MAX_LINES = 50
PARTY_LOOPS = {"DN": "2310A referring provider", "DQ": "2310D supervising provider"}


def render_hl(hl_id: int, parent_id: int | None, level: str, has_children: bool) -> str:
    return f"HL*{hl_id}*{'' if parent_id is None else parent_id}*{level}*{'1' if has_children else '0'}"


@dataclass(slots=True)
class Loop2010AA:
    nm1: NM1
    n3: N3
    n4: N4
    ref_ei: REF

    def __post_init__(self) -> None:
        if not (self.nm1.entity_id == "85" and self.nm1.id_qualifier == "XX"):
            raise GuideViolation("2010AA NM1 must be 85 with an NPI (XX)")
        if not self.n4.zip9_required:
            raise GuideViolation("2010AA N403 must be checked as a 9-digit ZIP")
        if self.ref_ei.qualifier != "EI":
            raise GuideViolation("2010AA needs REF*EI (billing provider TIN)")

    def segments(self, out: list[str]) -> None:
        out += (self.nm1.render(), self.n3.render(), self.n4.render(), self.ref_ei.render())


@dataclass(slots=True)
class Loop2000A:
    billing_provider: Loop2010AA
    prv: PRV | None = None
    pay_to: Loop2010AB | None = None

    def __post_init__(self) -> None:
        if self.prv is not None and self.prv.provider_code != "BI":
            raise GuideViolation("2000A PRV01 must be BI")

    def segments(self, out: list[str], hl_id: int) -> None:
        out.append(render_hl(hl_id, None, "20", True))
        if self.prv is not None:
            out.append(self.prv.render())
        self.billing_provider.segments(out)
        if self.pay_to is not None:
            out += self.pay_to.rendered


@dataclass(slots=True)
class Loop2010BA:
    nm1: NM1
    n3: N3 | None = None
    n4: N4 | None = None
    dmg: DMG | None = None

    def __post_init__(self) -> None:
        if not (self.nm1.entity_id == "IL" and self.nm1.id_qualifier == "MI"):
            raise GuideViolation("2010BA NM1 must be IL with a member id (MI)")
        if (self.n3 is None) != (self.n4 is None):
            raise GuideViolation("2010BA N3 and N4 go together")


@dataclass(slots=True)
class Loop2010BB:
    nm1: NM1
    rendered: str = field(init=False, repr=False, compare=False)  # built once; payers repeat across claims

    def __post_init__(self) -> None:
        if not (self.nm1.entity_id == "PR" and self.nm1.id_qualifier == "PI"):
            raise GuideViolation("2010BB NM1 must be PR with a payer id (PI)")
        self.rendered = self.nm1.render()


@dataclass(slots=True)
class Loop2000B:
    sbr: SBR
    subscriber: Loop2010BA
    payer: Loop2010BB

    def __post_init__(self) -> None:
        if self.sbr.relationship == "18":
            sub = self.subscriber
            if sub.n3 is None or sub.dmg is None:
                raise GuideViolation("2010BA N3/N4 and DMG are required when the subscriber is the patient")

    def segments(self, out: list[str], hl_id: int, parent_id: int, has_children: bool) -> None:
        sub = self.subscriber
        out += (render_hl(hl_id, parent_id, "22", has_children), self.sbr.render(), sub.nm1.render())
        if sub.n3 is not None and sub.n4 is not None:
            out += (sub.n3.render(), sub.n4.render())
        if sub.dmg is not None:
            out.append(sub.dmg.render())
        out.append(self.payer.rendered)


@dataclass(slots=True)
class Loop2010CA:
    nm1: NM1
    n3: N3
    n4: N4
    dmg: DMG

    def __post_init__(self) -> None:
        if not (self.nm1.entity_id == "QC" and self.nm1.entity_type == "1"):
            raise GuideViolation("2010CA NM1 must be QC, a person")


@dataclass(slots=True)
class Loop2000C:
    pat: PAT
    patient: Loop2010CA

    def segments(self, out: list[str], hl_id: int, parent_id: int) -> None:
        p = self.patient
        out += (
            render_hl(hl_id, parent_id, "23", False),
            self.pat.render(),
            p.nm1.render(),
            p.n3.render(),
            p.n4.render(),
            p.dmg.render(),
        )


@dataclass(slots=True)
class Loop2310B:
    nm1: NM1
    prv: PRV | None = None
    rendered: tuple[str, ...] = field(init=False, repr=False, compare=False)  # built once, reused per claim

    def __post_init__(self) -> None:
        if not (self.nm1.entity_id == "82" and self.nm1.entity_type == "1" and self.nm1.id_qualifier == "XX"):
            raise GuideViolation("2310B NM1 must be 82, a person, with an NPI (XX)")
        if self.prv is not None and self.prv.provider_code != "PE":
            raise GuideViolation("2310B PRV01 must be PE")
        self.rendered = (self.nm1.render(),) if self.prv is None else (self.nm1.render(), self.prv.render())


@dataclass(slots=True)
class Loop2410:
    lin: LIN
    ctp: CTP


@dataclass(slots=True)
class Loop2400:
    lx: int
    sv1: SV1
    dtp_472: date
    drug: Loop2410 | None = None
    rendering_provider: Loop2310B | None = None  # 2420A: the same NM1*82 / PRV*PE shape as 2310B
    ordering_provider: PartyLoop | None = None  # 2420E NM1*DK
    ref_g1_prior_authorization: str = ""  # only when it differs from the claim's
    adjudications: tuple[Loop2430, ...] = ()  # 2430: other payers' line adjudication (COB)

    def __post_init__(self) -> None:
        if self.ordering_provider is not None and self.ordering_provider.nm1.entity_id != "DK":
            raise GuideViolation("2420E NM1 must be DK (ordering provider)")
        if self.ref_g1_prior_authorization:
            check_text(self.ref_g1_prior_authorization, "2400 REF*G1 prior authorization", max_len=50)
            check_no_delimiters("2400 REF*G1", self.ref_g1_prior_authorization)

    def segments(self, out: list[str]) -> None:
        out += (f"LX*{self.lx}", self.sv1.render(), "DTP*472*D8*" + format_date(self.dtp_472))
        if self.ref_g1_prior_authorization:
            out.append("REF*G1*" + self.ref_g1_prior_authorization)
        if self.drug is not None:
            out += (self.drug.lin.render(), self.drug.ctp.render())
        if self.rendering_provider is not None:
            out += self.rendering_provider.rendered
        if self.ordering_provider is not None:
            out += self.ordering_provider.rendered
        for adjudication in self.adjudications:
            out += adjudication.rendered


@dataclass(slots=True)
class Loop2300:
    clm: CLM
    hi: HI
    service_lines: tuple[Loop2400, ...]
    ref_g1_prior_authorization: str = ""
    ref_f8_payer_claim_control_number: str = ""
    rendering_provider: Loop2310B | None = None
    ref_9f_referral_number: str = ""
    ref_x4_clia_number: str = ""
    dtp_439_accident: date | None = None
    referring_provider: PartyLoop | None = None  # 2310A NM1*DN
    service_facility: Loop2310C | None = None  # 2310C NM1*77
    supervising_provider: PartyLoop | None = None  # 2310D NM1*DQ
    other_payers: tuple[Loop2320, ...] = ()  # 2320/2330A/2330B (COB)

    def __post_init__(self) -> None:
        lines = self.service_lines
        if not (1 <= len(lines) <= MAX_LINES):
            raise GuideViolation(f"2300 needs 1 to {MAX_LINES} service lines, got {len(lines)}")
        n_dx = len(self.hi.codes)
        total = Decimal(0)
        for number, line in enumerate(lines, start=1):
            total += line.sv1.charge
            if line.lx != number:
                raise GuideViolation(f"2400 LX01 {line.lx} out of sequence (expected {number})")
            if max(line.sv1.pointers) > n_dx:
                raise GuideViolation(f"2400 line {number} SV107 {line.sv1.pointers} points past {n_dx} diagnoses")
        if total != self.clm.total_charge:
            raise GuideViolation(f"CLM02 {self.clm.total_charge} must equal the sum of SV102 {total}")
        if self.ref_g1_prior_authorization or self.ref_f8_payer_claim_control_number:
            self._check_references()
        if self.clm.frequency in ("7", "8") and not self.ref_f8_payer_claim_control_number:
            raise GuideViolation(f"CLM05-3 {self.clm.frequency} needs REF*F8 (payer claim control number)")
        self._check_parties()

    def _check_parties(self) -> None:
        for party, entity in ((self.referring_provider, "DN"), (self.supervising_provider, "DQ")):
            if party is not None and party.nm1.entity_id != entity:
                raise GuideViolation(f"{PARTY_LOOPS[entity]} NM1 must be {entity}")
        for value, what in ((self.ref_9f_referral_number, "REF*9F referral number"),
                            (self.ref_x4_clia_number, "REF*X4 CLIA number")):  # fmt: skip
            if value:
                check_text(value, what, max_len=50)
                check_no_delimiters(what, value)
        if self.dtp_439_accident is not None and not set(self.clm.related_causes) & {"AA", "EM", "OA"}:
            raise GuideViolation("DTP*439 accident date needs CLM11 related causes (AA, EM or OA)")
        if len(self.other_payers) > 10:
            raise GuideViolation(f"2320 repeats at most 10 times, got {len(self.other_payers)}")

    def _check_references(self) -> None:
        g1, f8 = self.ref_g1_prior_authorization, self.ref_f8_payer_claim_control_number
        check_text(g1, "REF*G1 prior authorization", max_len=50, required=False)
        check_text(f8, "REF*F8 payer claim control number", max_len=50, required=False)
        check_no_delimiters("REF*G1/REF*F8", g1, f8)

    def segments(self, out: list[str]) -> None:
        out.append(self.clm.render())
        if self.dtp_439_accident is not None:
            out.append("DTP*439*D8*" + format_date(self.dtp_439_accident))
        if self.ref_9f_referral_number:
            out.append("REF*9F*" + self.ref_9f_referral_number)
        if self.ref_g1_prior_authorization:
            out.append("REF*G1*" + self.ref_g1_prior_authorization)
        if self.ref_f8_payer_claim_control_number:
            out.append("REF*F8*" + self.ref_f8_payer_claim_control_number)
        if self.ref_x4_clia_number:
            out.append("REF*X4*" + self.ref_x4_clia_number)
        out.append(self.hi.render())
        for party in (self.referring_provider, self.rendering_provider, self.service_facility,
                      self.supervising_provider):  # fmt: skip
            if party is not None:
                out += party.rendered
        for other in self.other_payers:
            out += other.rendered
        for line in self.service_lines:
            line.segments(out)


@dataclass(slots=True)
class ClaimLoops:
    """One claim placed in the hierarchy: billing provider → subscriber → (patient) → claim."""

    billing: Loop2000A
    subscriber: Loop2000B
    claim: Loop2300
    patient: Loop2000C | None = None

    def __post_init__(self) -> None:
        relationship = self.subscriber.sbr.relationship
        if self.patient is None:
            if relationship != "18":
                raise GuideViolation("SBR02 must be 18 when there is no 2000C patient loop")
        else:
            if relationship:
                raise GuideViolation("SBR02 must be empty when the patient (2000C) is not the subscriber")
