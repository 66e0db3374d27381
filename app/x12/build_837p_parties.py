"""ClaimInput parts → the other-party and other-payer loops (:mod:`app.x12.loops_837p_parties`)."""

from __future__ import annotations

from app.x12.inputs import Address, ClaimInput, OtherPayer, RenderingProvider, ServiceFacility, ServiceLineInput
from app.x12.loops_837p_parties import Loop2010AB, Loop2310C, Loop2320, Loop2430, PartyLoop
from app.x12.segments_837p import N3, N4, NM1, SBR


def build_2010ab(address: Address) -> Loop2010AB:
    return Loop2010AB(N3(address.line1, address.line2), N4(address.city, address.state, address.postal_code))


def build_party(entity: str, provider: RenderingProvider) -> PartyLoop:
    n = provider.name
    return PartyLoop(NM1(entity, "1", n.last, n.first, n.middle, n.suffix, "XX", provider.npi))


def build_2310c(facility: ServiceFacility) -> Loop2310C:
    a = facility.address
    nm1 = NM1("77", "2", facility.name, id_qualifier="XX" if facility.npi else "", identifier=facility.npi)
    return Loop2310C(nm1, N3(a.line1, a.line2), N4(a.city, a.state, a.postal_code))


def build_2320(other: OtherPayer) -> Loop2320:
    s = other.subscriber
    sbr = SBR(other.responsibility, other.relationship, other.group_number, other.filing_indicator)
    subscriber = NM1("IL", "1", s.name.last, s.name.first, s.name.middle, s.name.suffix, "MI", s.member_id)
    payer = NM1("PR", "2", other.payer.name, id_qualifier="PI", identifier=other.payer.payer_id)
    return Loop2320(
        sbr, subscriber, payer, other.paid, other.adjustments, other.patient_responsibility, other.adjudicated
    )


def build_2430(line: ServiceLineInput, claim: ClaimInput) -> tuple[Loop2430, ...]:
    """The other payers' adjudication of this line (matched by procedure code, in claim order)."""
    out = []
    for other in claim.other_payers:
        if other.adjudicated is None:
            continue
        match = next((a for a in other.lines if a.code == line.code), None)
        if match is not None:
            out.append(
                Loop2430(
                    match.code,
                    other.payer.payer_id,
                    match.paid,
                    match.units,
                    match.adjustments,
                    other.adjudicated,
                    match.modifiers or line.modifiers,
                )
            )
    return tuple(out)
