"""Map and check encounters: the pure core both the worker and ``claimbridge check`` run.

``evaluate_encounter`` turns one :class:`~app.domain.context.EncounterContext` into a Claim with its
findings (mapping findings first, then rule findings). ``outcome_for`` says how each encounter ended
(its claim, or why there is none: :mod:`app.domain.outcomes`). ``check_resources`` runs a whole bag
of resources (a Bundle) through both in a stable order, counting claims produced earlier in the same
run as already billed, and accounts for every Encounter in it (history ones too). Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import orjson

from app.config.loader import ClaimConfig
from app.domain.context import EncounterContext, Resource, build_contexts, is_history, key_of, ref_of
from app.domain.findings import Category, Finding, Severity, blocks_submission
from app.domain.history import History
from app.domain.outcomes import ClaimSummary, EncounterOutcome, explain_encounter
from app.domain.tenancy import DEFAULT_EHR
from app.mappers import MappedClaim, map_encounter
from app.mappers.claim_settings import apply_claim_settings, billing_npi
from app.mappers.claim_split import split_claim
from app.rules import check_claim, filing_deadline

# Who has to act on a finding of each category (alerts route to these work queues).
AUDIENCE = {
    Category.ELIGIBILITY: "front-desk",
    Category.PRIOR_AUTH: "front-desk",
    Category.MISSING_DATA: "billing",
    Category.DUPLICATE: "billing",
    Category.TIMELY_FILING: "billing",
    Category.CODING: "coder",
    Category.DOCUMENTATION: "clinician",
    Category.CHARGE_CAPTURE: "clinician",
    Category.UNDERCODING: "clinician",
}


@dataclass(frozen=True)
class Evaluation:
    claim: dict[str, Any]
    findings: list[Finding]
    em: dict[str, Any] | None
    payer_id: str | None
    encounter: str
    patient: str | None
    mapping_version: str
    config_hash: str
    filing_deadline: date | None
    fingerprint: str = field(default="")
    ehr: str = DEFAULT_EHR  # whose encounter it is (app.domain.tenancy)
    #: How the encounter ended (a claim; or not-finished / no-coverage with the claim held).
    outcome: EncounterOutcome | None = field(default=None, compare=False)
    #: The other claims of an encounter split for the 837P's limits (50 lines, 12 diagnoses), in order.
    parts: tuple[Evaluation, ...] = field(default=(), compare=False)

    @property
    def claim_id(self) -> str:
        return str(self.claim["id"])

    @property
    def held(self) -> bool:
        return blocks_submission(self.findings)


def evaluate_encounter(
    ctx: EncounterContext, *, config: ClaimConfig, history: History, today: date, now: datetime
) -> Evaluation | None:
    """Map one encounter to a Claim and run the rules over it; None when there is nothing to bill."""
    mapped = map_encounter(
        ctx,
        mappings=config.mappings,
        chargemaster=config.chargemaster,
        created=now,
        replacement=history.replacing,
        billed_elsewhere=history.billed_elsewhere,
    )
    if mapped is None:
        return None
    mapped = with_claim_settings(mapped, ctx, config=config)
    first, *others = split_claim(mapped.claim)  # over 50 lines or 12 diagnoses: several valid claims
    parts = tuple(_evaluation(mapped, part, ctx, [], config=config, history=history, today=today) for part in others)
    ev = _evaluation(mapped, first, ctx, list(mapped.findings), config=config, history=history, today=today)
    return replace(ev, outcome=outcome_for(ctx.encounter, ctx, ev, config=config), parts=parts)


def _evaluation(
    mapped: MappedClaim,
    claim: dict[str, Any],
    ctx: EncounterContext,
    findings: list[Finding],
    *,
    config: ClaimConfig,
    history: History,
    today: date,
) -> Evaluation:
    findings += check_claim(
        claim, ctx, rules=config.rules, payers=config.payers, refdata=config.refdata, history=history, today=today
    )
    profile = config.payers.profile_for(mapped.payer_id)
    findings = config.rules.holds.apply(findings, profile.payer_id if not profile.is_default else mapped.payer_id)
    ev = Evaluation(
        claim=claim,
        findings=findings,
        em=mapped.em,
        payer_id=mapped.payer_id,
        encounter=ctx.key,
        patient=ref_of(ctx.encounter.get("subject")),
        mapping_version=mapped.mapping_version,
        config_hash=config.config_hash,
        filing_deadline=filing_deadline(claim, profile),
        ehr=ctx.ehr,
    )
    return _with_fingerprint(ev)


def with_claim_settings(mapped: MappedClaim, ctx: EncounterContext, *, config: ClaimConfig) -> MappedClaim:
    """``mapped`` with the payer's codes and the billing provider's settings (:mod:`app.mappers.claim_settings`)."""
    profile = config.payers.profile_for(mapped.payer_id)
    provider = config.providers.settings_for(billing_npi(mapped.claim, ctx))
    return replace(mapped, claim=apply_claim_settings(mapped.claim, ctx, profile=profile, provider=provider))


def _with_fingerprint(ev: Evaluation) -> Evaluation:
    claim = {k: v for k, v in ev.claim.items() if k not in ("created", "meta")}
    blob = orjson.dumps(
        {"claim": claim, "findings": [f.to_dict() for f in ev.findings], "em": ev.em},
        option=orjson.OPT_SORT_KEYS,
    )
    digest = hashlib.sha256(blob).hexdigest()[:32]
    return Evaluation(**{**ev.__dict__, "fingerprint": digest})


def alerts_for(ev: Evaluation) -> list[dict[str, Any]]:
    """One alert per audience that has something to do on this claim (errors and warnings)."""
    grouped: dict[str, list[Finding]] = {}
    for f in ev.findings:
        if f.severity is not Severity.INFO:
            grouped.setdefault(AUDIENCE[f.category], []).append(f)
    return [
        {
            "claim": ev.claim_id,
            "encounter": ev.encounter,
            "audience": audience,
            "severity": "error" if any(f.severity is Severity.ERROR for f in fs) else "warning",
            "message": "; ".join(f.message for f in fs),
            "rules": [f.rule for f in fs],
        }
        for audience, fs in sorted(grouped.items())
    ]


def outcome_for(
    encounter: Resource, ctx: EncounterContext | None, ev: Evaluation | None, *, config: ClaimConfig
) -> EncounterOutcome:
    """How one evaluated encounter ended (``ctx`` None: a history encounter, never evaluated)."""
    claim = ClaimSummary(ev.claim_id, ev.held) if ev is not None else None
    return explain_encounter(encounter, ctx, claim, active=lambda c: config.mappings.flag("coverage.active", c))


@dataclass(frozen=True)
class CheckReport:
    evaluations: list[Evaluation]
    #: One outcome per Encounter of the input, claim or not, in ``Type/id`` order.
    encounters: list[EncounterOutcome] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "claims": [ev.claim for ev in self.evaluations],
            "findings": [
                {**f.to_dict(), "claim": ev.claim_id, "encounter": ev.encounter}
                for ev in self.evaluations
                for f in ev.findings
            ],
            "alerts": [a for ev in self.evaluations for a in alerts_for(ev)],
            "encounters": [o.to_dict() for o in self.encounters],
        }


def check_resources(
    resources: Iterable[Resource | tuple[Resource, str | None]], *, config: ClaimConfig, today: date, now: datetime
) -> CheckReport:
    """Evaluate every encounter in a bag of resources; earlier claims of the run count as billed."""
    items = list(resources)
    contexts = build_contexts(items)
    produced: dict[str, list[dict[str, Any]]] = {}
    out: list[Evaluation] = []
    outcomes = []
    for ctx in contexts:
        patient = ref_of(ctx.encounter.get("subject")) or ""
        history = history_for(ctx, prior_claims=produced.get(patient, ()))
        ev = evaluate_encounter(ctx, config=config, history=history, today=today, now=now)
        if ev is None:
            outcomes.append(outcome_for(ctx.encounter, ctx, None, config=config))
            continue
        outcomes.append(ev.outcome or outcome_for(ctx.encounter, ctx, ev, config=config))
        out += (ev, *ev.parts)
        produced.setdefault(patient, []).extend(e.claim for e in (ev, *ev.parts))
    pairs = (item[0] if isinstance(item, tuple) else item for item in items)
    past = {key_of(r): r for r in pairs if r.get("resourceType") == "Encounter" and is_history(r)}
    outcomes += [outcome_for(r, None, None, config=config) for r in past.values()]
    return CheckReport(out, sorted(outcomes, key=lambda o: o.encounter))


def history_for(ctx: EncounterContext, *, prior_claims: Iterable[dict[str, Any]]) -> History:
    """History for one encounter: prior claims given by the caller; eligibility answers and
    authorizations (preauthorization ClaimResponses) on file for the patient."""
    patient = ref_of(ctx.encounter.get("subject"))

    def mine(resource_type: str) -> tuple[dict[str, Any], ...]:
        return tuple(r for r in ctx.of_type(resource_type) if ref_of(r.get("patient")) == patient)

    authorizations = tuple(r for r in mine("ClaimResponse") if r.get("use") == "preauthorization")
    return History(
        prior_claims=tuple(prior_claims), eligibility=mine("CoverageEligibilityResponse"), authorizations=authorizations
    )
