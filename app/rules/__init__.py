"""The rules engine and the claim-scrubbing catalogue (pure: no I/O anywhere in this package).

Public API::

    check_claim(claim, ctx, *, rules, payers, refdata, history, today) -> list[Finding]
    all_rules() -> list[RuleSpec]            # id, category, severity, carc_expected, summary, fix
    filing_deadline(claim, profile) -> date  # for ordering a submission queue

Loading is the configuration's job (``app.config.payers.load_payers``,
``app.config.rulesets.load_rulesets``):
this package imports nothing from :mod:`app.config`.

How it works: :mod:`facts` reads a Claim, its EncounterContext and the History once into a
:class:`ClaimFacts`; every rule in :mod:`catalogue` is a function over those facts registered with
``@register`` (:mod:`registry`); :class:`RuleSets` (:mod:`ruleset`) decides per payer and site which
rules run, at which severity and with which parameters; :mod:`engine` runs the plan.
"""

from app.domain.payers import PayerDirectory, PayerProfile
from app.rules import catalogue as _catalogue  # registers every rule
from app.rules.deadlines import filing_deadline
from app.rules.engine import check_claim
from app.rules.facts import ClaimFacts, build_facts
from app.rules.registry import Hit, RuleSpec, register, registered
from app.rules.ruleset import RuleSets

del _catalogue


def all_rules() -> list[RuleSpec]:
    """Every registered rule, sorted by id (for docs and metrics)."""
    return [spec for _, spec in sorted(registered().items())]


__all__ = [
    "ClaimFacts",
    "Hit",
    "PayerDirectory",
    "PayerProfile",
    "RuleSets",
    "RuleSpec",
    "all_rules",
    "build_facts",
    "check_claim",
    "filing_deadline",
    "register",
]
