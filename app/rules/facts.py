"""Typed facts derived once per claim from the Claim, its EncounterContext and the History.

Every rule reads a :class:`ClaimFacts`; nothing re-walks the JSON. Facts tolerate malformed input
(missing elements become None/empty and the rules report them); they never raise on bad data.
History-derived facts (other claims, their lines) are computed lazily and at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.domain.context import EncounterContext
from app.domain.history import History
from app.domain.payers import PayerDirectory, PayerProfile
from app.refdata.tables import RefData
from app.rules.claimlines import Line, default_dos, items_on, read_line, read_lines
from app.rules.codes import ICD10CM, MBI
from app.rules.values import (
    Resource,
    codings,
    identifier_by_type,
    identifier_values,
    key_of,
    npi_of,
    obj,
    parse_date,
    preferred_code,
    ref_key,
)
from app.rules.who import Provider, billing_provider, payer_ids_of, referring_providers, rendering_providers

_INACTIVE_CLAIM = frozenset({"cancelled", "entered-in-error"})
_ICD_ONLY = (ICD10CM,)


@dataclass(slots=True)
class Diagnosis:  # not frozen (like Line): frozen construction costs ~1.5 us more per instance
    index: int
    path: str
    sequence: Any
    code: str  # upper case, no dot
    raw: str
    system: str
    source: str | None  # Condition reference when the claim used diagnosisReference


def _read_dx(ctx: EncounterContext, claim: Resource) -> tuple[Diagnosis, ...]:
    """The diagnoses in ``sequence`` order (integer sequences first, then listing order)."""
    out = []
    ordered, last = True, None  # integer sequences already ascending need no sort (the usual case)
    for n, dx in enumerate(claim.get("diagnosis") or ()):
        if not isinstance(dx, dict):
            continue
        concept, source = dx.get("diagnosisCodeableConcept"), None
        if concept is None and dx.get("diagnosisReference"):
            condition = ctx.resolve(dx["diagnosisReference"])
            concept, source = (condition or {}).get("code"), ref_key(dx["diagnosisReference"])
        found = preferred_code(concept, _ICD_ONLY)
        system, raw = found if found else ("", "")
        sequence = dx.get("sequence")
        if ordered:
            ordered = isinstance(sequence, int) and (last is None or last <= sequence)
            last = sequence
        out.append(Diagnosis(n, f"Claim.diagnosis[{n}]", sequence, raw.replace(".", "").upper(), raw, system, source))
    if ordered:
        return tuple(out)
    return tuple(sorted(out, key=lambda d: (not isinstance(d.sequence, int), d.sequence or 0, d.index)))


def _focal_insurance(claim: Resource) -> tuple[int, Resource | None]:
    insurances = [i for i in claim.get("insurance") or () if isinstance(i, dict)]
    for n, ins in enumerate(insurances):
        if ins.get("focal") is True:
            return n, ins
    return (0, insurances[0]) if insurances else (-1, None)


def member_id_of(coverage: Resource | None) -> str | None:
    if not coverage:
        return None
    if isinstance(coverage.get("subscriberId"), str) and coverage["subscriberId"].strip():
        return str(coverage["subscriberId"]).strip()
    values = identifier_values(coverage, MBI)
    return values[0] if values else identifier_by_type(coverage, "MB")


@dataclass
class ClaimFacts:
    """Everything the rules need about one claim, read once."""

    claim: Resource
    ctx: EncounterContext
    history: History
    refdata: RefData
    profile: PayerProfile
    today: date
    claim_key: str
    patient: Resource | None
    birth_date: date | None
    dos: date | None
    lines: tuple[Line, ...]
    modified_lines: tuple[Line, ...]  # the lines that carry modifiers (most carry none), in order
    em_lines: tuple[Line, ...]  # the E/M lines (Line.is_em), in order
    dx: tuple[Diagnosis, ...]
    billing: Provider
    rendering: tuple[Provider, ...]
    referring: tuple[Provider, ...]
    insurance_path: str
    coverage: Resource | None
    member_id: str | None
    payer_ids: tuple[str, ...]
    pre_auth_refs: tuple[str, ...]
    encounter: Resource
    encounter_keys: frozenset[str]
    site_keys: tuple[str, ...]
    patient_key: str | None  # Type/id of the patient and of the coverage (None when absent)
    coverage_key: str | None
    related: tuple[Resource, ...] = field(default=())
    memo: dict[str, Any] = field(default_factory=dict)  # results rules share (e.g. NCCI pairs)

    @property
    def is_replacement(self) -> bool:
        """A replacement (frequency 7) names a prior claim in ``Claim.related``."""
        for related in self.related:  # usually none
            for coding in codings(related.get("relationship")):
                if coding.get("code") == "prior":
                    return True
        return False

    @property
    def other_claims(self) -> tuple[Resource, ...]:
        """Prior claims of the History that are not this claim, not replaced by it and not voided."""
        cached: tuple[Resource, ...] | None = self.memo.get("other_claims")
        if cached is None:
            cached = self.memo["other_claims"] = self._other_claims() if self.history.prior_claims else ()
        return cached

    def _other_claims(self) -> tuple[Resource, ...]:
        own_id = self.claim.get("id")
        replaced = {ref_key(r.get("claim")) for r in self.related if r.get("claim")}
        out = []
        for other in self.history.prior_claims:
            if other is self.claim or (own_id and other.get("id") == own_id):
                continue
            if other.get("status") in _INACTIVE_CLAIM or key_of(other) in replaced:
                continue
            out.append(other)
        return tuple(out)

    @property
    def history_lines(self) -> tuple[tuple[Resource, Line], ...]:
        """Lines of the other claims on this claim's dates of service (what NCCI, MUE and the
        duplicate rules compare against); other dates are skipped before they are parsed."""
        cached: tuple[tuple[Resource, Line], ...] | None = self.memo.get("history_lines")
        if cached is None:
            cached = self.memo["history_lines"] = self._history_lines() if self.other_claims else ()
        return cached

    def _history_lines(self) -> tuple[tuple[Resource, Line], ...]:
        dates = {line.dos for line in self.lines if line.dos}
        if not dates:
            return ()  # no line of another claim can be on one of this claim's dates
        out = []
        for n, other in enumerate(self.other_claims):
            found = items_on(other, dates)  # other dates are skipped before they are parsed (the usual case)
            if found:
                default = default_dos(other)
                for i, item in found:
                    line = read_line(item, i, default, f"Claim[{n}]")
                    if line.dos in dates:
                        out.append((other, line))
        return tuple(out)


def build_facts(
    claim: Resource,
    ctx: EncounterContext,
    *,
    history: History,
    payers: PayerDirectory,
    refdata: RefData,
    today: date,
) -> ClaimFacts:
    """Read a claim once. Pure: resolves references only through ``ctx``."""
    patient = ctx.resolve(claim.get("patient")) or ctx.patient
    lines = read_lines(claim)
    dates, modified, em, encounters = _line_groups(lines)
    enc_period = obj(ctx.encounter.get("period"))
    dos = min(dates) if dates else parse_date(enc_period.get("start"))
    ins_index, insurance = _focal_insurance(claim)
    coverage = ctx.resolve(insurance.get("coverage")) if insurance else None
    payer_ids = payer_ids_of(ctx, coverage, claim)
    billing = billing_provider(ctx, claim)
    encounter_keys = frozenset(encounters) or frozenset({ctx.key})
    return ClaimFacts(
        claim=claim,
        ctx=ctx,
        history=history,
        refdata=refdata,
        profile=payers.find(payer_ids),
        today=today,
        claim_key=f"Claim/{claim['id']}" if claim.get("id") else "Claim",
        patient=patient,
        birth_date=parse_date((patient or {}).get("birthDate")),
        dos=dos,
        lines=lines,
        modified_lines=tuple(modified),
        em_lines=tuple(em),
        dx=_read_dx(ctx, claim),
        billing=billing,
        rendering=rendering_providers(ctx, claim),
        referring=referring_providers(ctx, claim),
        insurance_path=f"Claim.insurance[{max(ins_index, 0)}]",
        coverage=coverage,
        member_id=member_id_of(coverage),
        payer_ids=payer_ids,
        pre_auth_refs=tuple(str(r) for r in (insurance or {}).get("preAuthRef") or () if r),
        encounter=ctx.encounter,
        encounter_keys=encounter_keys,
        site_keys=_site_keys(ctx, billing),
        patient_key=key_of(patient),
        coverage_key=key_of(coverage),
        related=tuple(r for r in claim.get("related") or () if isinstance(r, dict)),
    )


def _line_groups(lines: tuple[Line, ...]) -> tuple[list[date], list[Line], list[Line], list[str]]:
    """One pass over the lines: their dates, the lines with modifiers, the E/M lines and the
    encounter keys they name."""
    dates: list[date] = []
    modified: list[Line] = []
    em: list[Line] = []
    encounters: list[str] = []
    for line in lines:
        if line.dos:
            dates.append(line.dos)
        if line.modifiers:
            modified.append(line)
        if line.is_em:
            em.append(line)
        if line.encounters:
            encounters.extend(line.encounters)
    return dates, modified, em, encounters


def _site_keys(ctx: EncounterContext, billing: Provider) -> tuple[str, ...]:
    keys = [billing.npi, billing.source, ref_key(ctx.encounter.get("serviceProvider"))]
    for loc in ctx.encounter.get("location") or ():
        if isinstance(loc, dict):
            keys.append(ref_key(loc.get("location")))
    return tuple(dict.fromkeys(k for k in keys if k))


__all__ = ["ClaimFacts", "Diagnosis", "Line", "Provider", "build_facts", "member_id_of", "npi_of", "read_lines"]
