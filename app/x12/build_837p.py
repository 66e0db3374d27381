"""ClaimInput → guide loops (:class:`~app.x12.loops_837p.ClaimLoops`), or a clear refusal.

:func:`build_claim_loops` checks everything the guide requires before a byte is written. The happy
path builds the loops straight through; when a check fails it rebuilds loop by loop to raise one
:class:`~app.x12.errors.X12BuildError` listing every problem (one per loop it could not build).
:class:`LoopCache` reuses the loops of consecutive claims that share a billing provider, subscriber,
payer or rendering provider, so a batch pays for those checks once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from app.x12.build_837p_parties import build_2010ab, build_2310c, build_2320, build_2430, build_party
from app.x12.errors import GuideViolation, X12BuildError
from app.x12.inputs import Address, BillingProvider, ClaimInput, Patient, Payer, RenderingProvider, ServiceLineInput
from app.x12.loops_837p import (
    ClaimLoops,
    Loop2000A,
    Loop2000B,
    Loop2000C,
    Loop2010AA,
    Loop2010BA,
    Loop2010BB,
    Loop2010CA,
    Loop2300,
    Loop2310B,
    Loop2400,
    Loop2410,
)
from app.x12.segments_837p import CLM, CTP, DMG, HI, LIN, N3, N4, NM1, PAT, PRV, REF, SBR, SV1

T = TypeVar("T")
K = TypeVar("K")


def _address(address: Address, *, zip9: bool = False) -> tuple[N3, N4]:
    return N3(address.line1, address.line2), N4(address.city, address.state, address.postal_code, zip9)


def build_2000a(provider: BillingProvider) -> Loop2000A:
    if provider.person is not None:
        p = provider.person
        nm1 = NM1("85", "1", p.last, p.first, p.middle, p.suffix, "XX", provider.npi)
    else:
        nm1 = NM1("85", "2", provider.organization_name, id_qualifier="XX", identifier=provider.npi)
    n3, n4 = _address(provider.address, zip9=True)
    prv = PRV("BI", provider.taxonomy) if provider.taxonomy else None
    pay_to = build_2010ab(provider.pay_to_address) if provider.pay_to_address is not None else None
    return Loop2000A(Loop2010AA(nm1, n3, n4, REF("EI", provider.tin)), prv, pay_to)


def build_2010bb(payer: Payer) -> Loop2010BB:
    return Loop2010BB(NM1("PR", "2", payer.name, id_qualifier="PI", identifier=payer.payer_id))


def build_2000b(claim: ClaimInput, payer: Loop2010BB) -> Loop2000B:
    sub = claim.subscriber
    n = sub.name
    nm1 = NM1("IL", "1", n.last, n.first, n.middle, n.suffix, "MI", sub.member_id)
    n3 = n4 = None
    if sub.address is not None:
        n3, n4 = _address(sub.address)
    dmg = DMG(sub.birth_date, sub.sex) if sub.birth_date is not None else None
    relationship = "18" if claim.patient is None else ""
    sbr = SBR(claim.payer_responsibility, relationship, claim.group_number, claim.filing_indicator)
    return Loop2000B(sbr, Loop2010BA(nm1, n3, n4, dmg), payer)


def build_2000c(patient: Patient) -> Loop2000C:
    n = patient.name
    n3, n4 = _address(patient.address)
    nm1 = NM1("QC", "1", n.last, n.first, n.middle, n.suffix)
    return Loop2000C(PAT(patient.relationship), Loop2010CA(nm1, n3, n4, DMG(patient.birth_date, patient.sex)))


def build_2310b(rendering: RenderingProvider) -> Loop2310B:
    n = rendering.name
    nm1 = NM1("82", "1", n.last, n.first, n.middle, n.suffix, "XX", rendering.npi)
    return Loop2310B(nm1, PRV("PE", rendering.taxonomy) if rendering.taxonomy else None)


def build_2400(number: int, line: ServiceLineInput, claim: ClaimInput) -> Loop2400:
    pos = line.place_of_service if line.place_of_service != claim.place_of_service else ""
    sv1 = SV1(line.code, line.modifiers, line.charge, line.units, pos, line.pointers)
    drug = None
    if line.drug is not None:
        drug = Loop2410(LIN(line.drug.ndc), CTP(line.drug.quantity, line.drug.unit))
    rendering = build_2310b(line.rendering_provider) if line.rendering_provider is not None else None
    ordering = build_party("DK", line.ordering_provider) if line.ordering_provider is not None else None
    adjudications = build_2430(line, claim)
    g1 = line.prior_authorization if line.prior_authorization != claim.prior_authorization else ""
    return Loop2400(number, sv1, line.service_date, drug, rendering, ordering, g1, adjudications)


def build_clm(claim: ClaimInput) -> CLM:
    p = claim.participation
    return CLM(
        claim.claim_id, claim.total_charge, claim.place_of_service, claim.frequency,
        p.assignment, p.benefits_assignment, p.release_of_information, claim.related_causes, claim.accident_state,
    )  # fmt: skip


def build_2300(claim: ClaimInput, lines: tuple[Loop2400, ...], rendering: Loop2310B | None) -> Loop2300:
    referring = build_party("DN", claim.referring_provider) if claim.referring_provider is not None else None
    supervising = build_party("DQ", claim.supervising_provider) if claim.supervising_provider is not None else None
    facility = build_2310c(claim.service_facility) if claim.service_facility is not None else None
    return Loop2300(
        build_clm(claim), HI(claim.diagnoses), lines, claim.prior_authorization, claim.payer_claim_control_number,
        rendering, claim.referral_number, claim.clia_number, claim.accident_date, referring, facility, supervising,
        tuple(build_2320(other) for other in claim.other_payers),
    )  # fmt: skip


class _Last:
    """A one-entry cache: the loop built for the last input (consecutive claims often repeat it)."""

    __slots__ = ("key", "value")

    def __init__(self) -> None:
        self.key: object = None
        self.value: object = None

    def get(self, key: K, build: Callable[[K], T]) -> T:
        if self.value is None or (key is not self.key and key != self.key):
            self.value = build(key)
            self.key = key
        return self.value  # type: ignore[return-value]


class LoopCache:
    """Remembers the last billing-provider, payer, subscriber and rendering-provider loops."""

    __slots__ = ("_billing", "_payer", "_rendering", "_subscriber")

    def __init__(self) -> None:
        self._billing, self._payer, self._subscriber, self._rendering = _Last(), _Last(), _Last(), _Last()

    def billing(self, provider: BillingProvider) -> Loop2000A:
        return self._billing.get(provider, build_2000a)

    def payer(self, payer: Payer) -> Loop2010BB:
        return self._payer.get(payer, build_2010bb)

    def rendering(self, rendering: RenderingProvider) -> Loop2310B:
        return self._rendering.get(rendering, build_2310b)

    def subscriber(self, claim: ClaimInput) -> Loop2000B:
        payer = self.payer(claim.payer)
        last = self._subscriber
        key = (claim.subscriber, payer, claim.payer_responsibility, claim.group_number,
               claim.filing_indicator, claim.patient is None)  # fmt: skip
        previous = last.key
        if (
            last.value is None
            or not isinstance(previous, tuple)
            or claim.subscriber.member_id != previous[0].member_id  # cheap test first
            or key != previous
        ):
            last.value, last.key = build_2000b(claim, payer), key
        return last.value  # type: ignore[return-value]


def _build(claim: ClaimInput, cache: LoopCache) -> ClaimLoops:
    lines = tuple([build_2400(n, line, claim) for n, line in enumerate(claim.lines, start=1)])
    rendering = cache.rendering(claim.rendering_provider) if claim.rendering_provider is not None else None
    patient = build_2000c(claim.patient) if claim.patient is not None else None
    return ClaimLoops(
        cache.billing(claim.billing_provider), cache.subscriber(claim), build_2300(claim, lines, rendering), patient
    )


def _attempt(problems: list[str], where: str, build: Callable[[], T]) -> T | None:
    try:
        return build()
    except GuideViolation as exc:
        problems.append(f"{where}: {exc}")
        return None


def list_problems(claim: ClaimInput) -> list[str]:
    """Every guide problem of ``claim``, loop by loop (empty when it builds)."""
    problems: list[str] = []
    cache = LoopCache()
    _attempt(problems, "2000A/2010AA billing provider", partial(cache.billing, claim.billing_provider))
    _attempt(problems, "2000B/2010BA/2010BB subscriber and payer", partial(cache.subscriber, claim))
    if claim.patient is not None:
        _attempt(problems, "2000C/2010CA patient", partial(build_2000c, claim.patient))
    rendering = None
    if claim.rendering_provider is not None:
        rendering = _attempt(problems, "2310B rendering provider", partial(build_2310b, claim.rendering_provider))
    lines = [
        _attempt(problems, f"2400 line {n}", partial(build_2400, n, line, claim))
        for n, line in enumerate(claim.lines, start=1)
    ]
    before = len(problems)
    _attempt(problems, "2300 CLM", partial(build_clm, claim))
    _attempt(problems, "2300 HI", partial(HI, claim.diagnoses))
    if len(problems) == before and all(line is not None for line in lines):
        built = tuple(line for line in lines if line is not None)
        _attempt(problems, "2300", partial(build_2300, claim, built, rendering))
    if not problems:
        _attempt(problems, "claim", partial(_build, claim, cache))
    return problems


def build_claim_loops(claim: ClaimInput, *, cache: LoopCache | None = None) -> ClaimLoops:
    """Check ``claim`` against the guide and return its loops; :class:`X12BuildError` lists every problem."""
    try:
        return _build(claim, cache or LoopCache())
    except GuideViolation as exc:
        raise X12BuildError(claim.claim_id, list_problems(claim) or [str(exc)]) from exc
