"""The 837P's other parties and other payers (005010X222A1), as loop models with the guide's checks.

=========  ==============================================================
Loop2010AB pay-to address (NM1*87*2, N3, N4): only when payments go elsewhere than 2010AA
PartyLoop  a person named by NPI: 2310A referring (NM1*DN), 2310D supervising (NM1*DQ),
           2420E ordering (NM1*DK)
Loop2310C  service facility (NM1*77*2, N3, N4): the site, when it is not the billing address
Loop2320   other subscriber information (SBR, CAS, AMT*D, AMT*EAF, OI) + 2330A (NM1*IL)
           + 2330B (NM1*PR, DTP*573): one per other coverage (COB)
Loop2430   line adjudication by the other payer (SVD, CAS, DTP*573)
=========  ==============================================================

Like :mod:`app.x12.loops_837p`, each loop renders its segments once when built (``rendered``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from app.x12.errors import GuideViolation
from app.x12.segments_837p import N3, N4, NM1, SBR
from app.x12.syntax import check_amount, format_amount, format_date

PARTY_ENTITIES = {"DN": "2310A referring", "DQ": "2310D supervising", "DK": "2420E ordering"}
CAS_GROUPS = frozenset({"CO", "CR", "OA", "PI", "PR"})
MAX_CAS_PER_SEGMENT = 6


@dataclass(slots=True)
class Loop2010AB:
    n3: N3
    n4: N4
    rendered: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rendered = ("NM1*87*2", self.n3.render(), self.n4.render())


@dataclass(slots=True)
class PartyLoop:
    nm1: NM1
    rendered: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        what = PARTY_ENTITIES.get(self.nm1.entity_id)
        if what is None:
            raise GuideViolation(f"NM1*{self.nm1.entity_id} is not a referring, supervising or ordering provider")
        if not (self.nm1.entity_type == "1" and self.nm1.id_qualifier == "XX"):
            raise GuideViolation(f"{what} provider NM1 must be a person with an NPI (XX)")
        self.rendered = (self.nm1.render(),)


@dataclass(slots=True)
class Loop2310C:
    nm1: NM1
    n3: N3
    n4: N4
    rendered: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (self.nm1.entity_id == "77" and self.nm1.entity_type == "2"):
            raise GuideViolation("2310C NM1 must be 77, an organisation")
        self.rendered = (self.nm1.render(), self.n3.render(), self.n4.render())


def cas_segments(adjustments: tuple[tuple[str, str, Decimal], ...]) -> list[str]:
    """CAS segments: one per group, at most six reason/amount pairs each (CAS02-CAS19)."""
    by_group: dict[str, list[tuple[str, Decimal]]] = {}
    for group, reason, amount in adjustments:
        if group not in CAS_GROUPS:
            raise GuideViolation(f"CAS01 {group!r} is not a claim adjustment group code")
        if not reason or len(reason) > 5:
            raise GuideViolation(f"CAS reason code {reason!r} must be 1-5 characters")
        check_amount(amount, "CAS amount", positive=False)
        by_group.setdefault(group, []).append((reason, amount))
    out = []
    for group, pairs in by_group.items():
        for start in range(0, len(pairs), MAX_CAS_PER_SEGMENT):
            chunk = pairs[start : start + MAX_CAS_PER_SEGMENT]
            out.append("CAS*" + group + "".join(f"*{r}*{format_amount(a)}*" for r, a in chunk).rstrip("*"))
    return out


@dataclass(slots=True)
class Loop2430:
    code: str
    payer_id: str
    paid: Decimal
    units: Decimal
    adjustments: tuple[tuple[str, str, Decimal], ...]
    adjudicated: date
    modifiers: tuple[str, ...] = ()
    rendered: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_amount(self.paid, "SVD02 line paid amount", positive=False)
        procedure = ":".join(("HC", self.code, *self.modifiers))
        svd = f"SVD*{self.payer_id}*{format_amount(self.paid)}*{procedure}**{format_amount(self.units)}"
        self.rendered = (svd, *cas_segments(self.adjustments), "DTP*573*D8*" + format_date(self.adjudicated))


@dataclass(slots=True)
class Loop2320:
    sbr: SBR
    subscriber: NM1  # 2330A NM1*IL
    payer: NM1  # 2330B NM1*PR
    paid: Decimal | None = None
    adjustments: tuple[tuple[str, str, Decimal], ...] = ()
    patient_responsibility: Decimal | None = None
    adjudicated: date | None = None
    rendered: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.subscriber.entity_id != "IL" or self.payer.entity_id != "PR":
            raise GuideViolation("2330A must be NM1*IL and 2330B NM1*PR")
        if self.paid is None and (self.adjustments or self.adjudicated):
            raise GuideViolation("2320 adjustments need the other payer's paid amount (AMT*D)")
        if self.paid is not None and self.adjudicated is None:
            raise GuideViolation("2330B DTP*573 (adjudication date) is required once the other payer paid")
        out = [self.sbr.render(), *cas_segments(self.adjustments)]
        if self.paid is not None:
            check_amount(self.paid, "2320 AMT*D payer paid amount", positive=False)
            out.append("AMT*D*" + format_amount(self.paid))
        if self.patient_responsibility is not None:
            check_amount(self.patient_responsibility, "2320 AMT*EAF remaining patient liability", positive=False)
            out.append("AMT*EAF*" + format_amount(self.patient_responsibility))
        out += ("OI***Y***Y", self.subscriber.render(), self.payer.render())
        if self.adjudicated is not None:
            out.append("DTP*573*D8*" + format_date(self.adjudicated))
        self.rendered = tuple(out)
