"""What claimbridge knows about a payer at run time: profiles, prior-auth rules, the directory.

Plain frozen dataclasses with precompiled patterns (the rules read them on the hot path, so no
pydantic model is touched after loading). :mod:`app.config.payers` reads ``config/payers/*.yaml``
into these; the rules, the mappers and the 837P builder only read them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.domain.eligibility import EligibilityEndpoint
from app.domain.payer_types import filing_indicator_for


@dataclass(frozen=True, slots=True)
class PriorAuthRule:
    low: str
    high: str
    pos: frozenset[str] | None
    min_units: float | None

    def matches(self, code: str, pos: str | None, units: float | None) -> bool:
        if not (self.low <= code <= self.high and len(code) == len(self.low)):
            return False
        if self.pos is not None and pos not in self.pos:
            return False
        return self.min_units is None or (units or 0) >= self.min_units


@dataclass(frozen=True, slots=True)
class CodeOverride:
    """This payer's own code for a service: ``code`` becomes ``becomes`` on its claims (837P SV101).

    ``with_any``: only on a claim that also bills one of these codes (G0008 replaces 90471 only
    next to a flu vaccine); None: always."""

    code: str
    becomes: str
    with_any: frozenset[str] | None = None

    def applies(self, code: str, claim_codes: frozenset[str]) -> bool:
        return code == self.code and (self.with_any is None or not self.with_any.isdisjoint(claim_codes))


@dataclass(frozen=True)
class PayerProfile:
    """What the rules know about one payer."""

    payer_id: str
    name: str
    claim_filing_indicator: str | None  # None: derived per claim (see app.config.payer_types)
    timely_filing_days: int
    eligibility_max_age_days: int
    prior_auth: tuple[PriorAuthRule, ...] = ()
    referral_required: bool = False
    subscriber_id_regex: re.Pattern[str] | None = None
    subscriber_id_format: str = "pattern"
    visit_note_required: bool = False
    ndc_required: bool = True
    allowed: dict[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    is_default: bool = False
    source: str | None = None
    payer_type: str | None = None
    code_overrides: tuple[CodeOverride, ...] = ()
    drug_waste_modifiers: bool = False  # JZ (nothing discarded) / a JW line (discarded units) on single-dose drugs
    # the payer's vaccine administration code -> the vaccine product codes it administers (app.domain.vaccine_admin)
    vaccine_administration: Mapping[str, frozenset[str]] = field(default_factory=dict)
    prior_auth_endpoint: str | None = None  # Da Vinci PAS base URL (Claim/$submit, Claim/$inquire)
    prior_auth_token_env: str | None = None  # environment variable holding its bearer token (none: no auth)
    eligibility: EligibilityEndpoint | None = None  # real-time verification endpoint, if any

    @property
    def type_filing_indicator(self) -> str | None:
        """The SBR09 code implied by ``payer_type``: used when neither the profile nor Coverage.type gives one."""
        return filing_indicator_for(self.payer_type)

    def payer_code(self, code: str, claim_codes: frozenset[str]) -> str:
        """The code this payer wants for ``code`` on a claim billing ``claim_codes`` (else ``code``)."""
        return next((o.becomes for o in self.code_overrides if o.applies(code, claim_codes)), code)

    def prior_auth_rule(self, code: str, pos: str | None, units: float | None) -> PriorAuthRule | None:
        """The prior-auth list entry that covers this service, if any."""
        for rule in self.prior_auth:
            if rule.low <= code <= rule.high and rule.matches(code, pos, units):
                return rule
        return None


DEFAULT_PROFILE = PayerProfile(
    payer_id="",
    name="Unknown payer (conservative default profile)",
    claim_filing_indicator="ZZ",
    timely_filing_days=90,  # the shortest common commercial window
    eligibility_max_age_days=30,
    subscriber_id_regex=re.compile(r"^[A-Za-z0-9-]{2,80}$"),
    is_default=True,
)


@dataclass(frozen=True)
class PayerDirectory:
    """Profiles by payer id (and alias); unknown payers get the default profile."""

    profiles: dict[str, PayerProfile] = field(default_factory=dict)
    default: PayerProfile = DEFAULT_PROFILE

    def profile_for(self, payer_id: str | None) -> PayerProfile:
        return self.profiles.get(payer_id or "", self.default)

    def find(self, payer_ids: Iterable[str]) -> PayerProfile:
        """The profile of the first id that has one, else the default profile."""
        for payer_id in payer_ids:
            profile = self.profiles.get(payer_id)
            if profile is not None:
                return profile
        return self.default
