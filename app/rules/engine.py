"""Run the planned rules over one claim's facts and collect findings (pure; no I/O)."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.domain.context import EncounterContext
from app.domain.findings import Finding
from app.domain.history import History
from app.domain.payers import PayerDirectory
from app.refdata.tables import RefData
from app.rules.facts import ClaimFacts, build_facts
from app.rules.ruleset import RuleSets


def check_claim(
    claim: dict[str, Any],
    ctx: EncounterContext,
    *,
    rules: RuleSets,
    payers: PayerDirectory,
    refdata: RefData,
    history: History,
    today: date,
) -> list[Finding]:
    """Every finding the enabled rules raise on ``claim`` (in rule-id order, then rule order).

    A cancelled claim (the void of one the payer holds) is not scrubbed: there is nothing to correct."""
    if claim.get("status") == "cancelled":
        return []
    facts = build_facts(claim, ctx, history=history, payers=payers, refdata=refdata, today=today)
    return run_rules(facts, rules)


def payer_key(facts: ClaimFacts) -> str | None:
    """The payer id whose rule-set overrides apply: the matched profile's, else the first payer id."""
    if not facts.profile.is_default:
        return facts.profile.payer_id
    return facts.payer_ids[0] if facts.payer_ids else None


def run_rules(facts: ClaimFacts, rules: RuleSets) -> list[Finding]:
    findings: list[Finding] = []
    for planned in rules.plan_for(payer_key(facts), facts.site_keys):
        for hit in planned.check(facts, planned.params):  # most rules yield nothing
            # positional: keyword arguments double the cost of building a (frozen) Finding;
            # the order is Finding's field order (rule, category, severity, message, location, source, fix)
            fix = hit.fix or planned.fix
            findings.append(
                Finding(planned.id, planned.category, planned.severity, hit.message, hit.location, hit.source, fix)
            )
    return findings
