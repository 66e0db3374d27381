"""Payer profiles (``config/payers/*.yaml``): ids, filing rules, prior-auth lists, contracted rates.

Each file holds one profile, schema-checked at load (unknown keys are errors naming file and line).
:func:`load_payers` returns a :class:`PayerDirectory`; ``profile_for(payer_id)`` answers the payer's
:class:`PayerProfile` or, for a payer without a file, a conservative default profile
(``is_default=True``) that the rules report as an ``info`` finding.

Only ``payer_id``, ``name``, ``timely_filing_days`` and ``eligibility_max_age_days`` are required.
``claim_filing_indicator`` (837P SBR09) is optional: without it the code is derived per claim from
the Coverage's type, then from the profile's ``payer_type`` (:mod:`app.config.payer_types`).
:func:`effective_profile` shows a profile with every default filled in (``claimbridge config check``).

Runtime profiles are plain frozen dataclasses with precompiled patterns: the rules read them on the
hot path, so no pydantic model is touched after loading.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.config.eligibility import EligibilitySection, endpoint_from_section
from app.config.yamlfile import load_yaml, validate_data
from app.domain.payer_types import PayerType
from app.domain.payers import CodeOverride, PayerDirectory, PayerProfile, PriorAuthRule
from app.errors import ConfigError

FilingIndicator = Literal[
    "09", "11", "12", "13", "14", "15", "16", "17", "AM", "BL", "CH", "CI", "DS", "FI", "HM", "LM", "MA",
    "MB", "MC", "OF", "TV", "VA", "WC", "ZZ",
]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriorAuthItem(_Strict):
    """One prior-auth list entry: a code or an inclusive code range, optionally by POS and units."""

    code: str | None = None
    range: tuple[str, str] | None = None
    pos: list[str] | None = None
    min_units: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_of(self) -> PriorAuthItem:
        if (self.code is None) == (self.range is None):
            raise ValueError("give exactly one of 'code' or 'range'")
        if self.range and self.range[0] > self.range[1]:
            raise ValueError("range start is after its end")
        return self


_CODE = r"^(\d{5}|\d{4}[FTU]|[A-V]\d{4})$"


class CodeOverrideItem(_Strict):
    """This payer's code for a service: ``code`` becomes ``becomes`` (only next to ``with_any`` codes)."""

    code: str = Field(pattern=_CODE)
    becomes: str = Field(pattern=_CODE)
    with_any: list[str] | None = None


class PayerProfileFile(_Strict):
    """The schema of one ``config/payers/*.yaml`` file."""

    payer_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    aliases: list[str] = []  # other payer ids that mean this payer
    claim_filing_indicator: FilingIndicator | None = None  # None: derived (Coverage.type, then payer_type)
    payer_type: PayerType | None = None
    timely_filing_days: int = Field(gt=0, le=3650)
    eligibility_max_age_days: int = Field(ge=0, le=3650)
    prior_auth: list[PriorAuthItem] = []
    referral_required: bool = False
    subscriber_id_pattern: str | None = None
    subscriber_id_format: Literal["pattern", "mbi"] = "pattern"
    visit_note_required: bool = False
    ndc_required: bool = True
    allowed: dict[str, float] = {}
    code_overrides: list[CodeOverrideItem] = []
    drug_waste_modifiers: bool = False  # Medicare Part B: JZ / JW on drugs from single-dose containers
    vaccine_administration: dict[str, list[str]] = {}  # G0008: [flu vaccine codes], ... (app.domain.vaccine_admin)
    prior_auth_endpoint: str | None = Field(default=None, pattern=r"^https?://")  # Da Vinci PAS FHIR base
    prior_auth_token_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")  # env var: bearer token
    eligibility: EligibilitySection | None = None  # real-time verification (app.eligibility)

    @field_validator("subscriber_id_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from exc
        return value


def filing_indicator_rule(profile: PayerProfile) -> str:
    """Where a claim under this profile gets its SBR09 code, in words."""
    if profile.is_default:
        return "derived per claim: the Coverage.type code (no payer profile)"
    if profile.claim_filing_indicator:
        return profile.claim_filing_indicator
    fallback = profile.type_filing_indicator
    if fallback:
        return f"derived per claim: the Coverage.type code, else {fallback} (payer_type {profile.payer_type})"
    return "derived per claim: the Coverage.type code (no payer_type: a Coverage without a type is refused)"


def _prior_auth_view(rule: PriorAuthRule) -> dict[str, Any]:
    view: dict[str, Any] = {"code": rule.low} if rule.low == rule.high else {"range": [rule.low, rule.high]}
    if rule.pos is not None:
        view["pos"] = sorted(rule.pos)
    if rule.min_units is not None:
        view["min_units"] = rule.min_units
    return view


def effective_profile(profile: PayerProfile) -> dict[str, Any]:
    """Every key of a profile as the service will use it, defaults filled in (``config check``)."""
    return {
        "payer_id": profile.payer_id,
        "name": profile.name,
        "source": profile.source,
        "aliases": list(profile.aliases),
        "payer_type": profile.payer_type,
        "claim_filing_indicator": filing_indicator_rule(profile),
        "timely_filing_days": profile.timely_filing_days,
        "eligibility_max_age_days": profile.eligibility_max_age_days,
        "prior_auth": [_prior_auth_view(r) for r in profile.prior_auth],
        "referral_required": profile.referral_required,
        "subscriber_id_pattern": profile.subscriber_id_regex.pattern if profile.subscriber_id_regex else None,
        "subscriber_id_format": profile.subscriber_id_format,
        "visit_note_required": profile.visit_note_required,
        "ndc_required": profile.ndc_required,
        "allowed": dict(profile.allowed),
        "drug_waste_modifiers": profile.drug_waste_modifiers,
        "code_overrides": [
            {"code": o.code, "becomes": o.becomes, "with_any": sorted(o.with_any) if o.with_any else None}
            for o in profile.code_overrides
        ],
        "vaccine_administration": {k: sorted(v) for k, v in sorted(profile.vaccine_administration.items())},
        "prior_auth_endpoint": profile.prior_auth_endpoint,
        "prior_auth_token_env": profile.prior_auth_token_env,
        "eligibility": asdict(profile.eligibility) if profile.eligibility else None,
    }


def profile_from_file(spec: PayerProfileFile, *, source: str | None = None) -> PayerProfile:
    rules = tuple(
        PriorAuthRule(
            low=item.code or (item.range[0] if item.range else ""),
            high=item.code or (item.range[1] if item.range else ""),
            pos=frozenset(item.pos) if item.pos is not None else None,
            min_units=item.min_units,
        )
        for item in spec.prior_auth
    )
    pattern = spec.subscriber_id_pattern
    return PayerProfile(
        payer_id=spec.payer_id,
        name=spec.name,
        claim_filing_indicator=spec.claim_filing_indicator,
        timely_filing_days=spec.timely_filing_days,
        eligibility_max_age_days=spec.eligibility_max_age_days,
        prior_auth=rules,
        referral_required=spec.referral_required,
        subscriber_id_regex=re.compile(pattern) if pattern else None,
        subscriber_id_format=spec.subscriber_id_format,
        visit_note_required=spec.visit_note_required,
        ndc_required=spec.ndc_required,
        allowed=dict(spec.allowed),
        aliases=tuple(spec.aliases),
        source=source,
        payer_type=spec.payer_type,
        code_overrides=tuple(
            CodeOverride(o.code, o.becomes, frozenset(o.with_any) if o.with_any is not None else None)
            for o in spec.code_overrides
        ),
        drug_waste_modifiers=spec.drug_waste_modifiers,
        vaccine_administration={k: frozenset(v) for k, v in spec.vaccine_administration.items()},
        prior_auth_endpoint=spec.prior_auth_endpoint.rstrip("/") if spec.prior_auth_endpoint else None,
        prior_auth_token_env=spec.prior_auth_token_env,
        eligibility=endpoint_from_section(spec.eligibility) if spec.eligibility else None,
    )


def load_payers(directory: Path) -> PayerDirectory:
    """Read ``directory/payers/*.yaml``; a payer id (or alias) defined twice is an error."""
    profiles: dict[str, PayerProfile] = {}
    folder = directory / "payers"
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    for path in paths:
        data, lines = load_yaml(path)
        spec = validate_data(path, data, lines, PayerProfileFile)
        profile = profile_from_file(spec, source=str(path))
        for key in (spec.payer_id, *spec.aliases):
            if key in profiles:
                raise ConfigError(
                    path, lines.line_for(("payer_id",)), "payer_id",
                    f"payer id {key!r} already defined in {profiles[key].source}",
                )  # fmt: skip
            profiles[key] = profile
    return PayerDirectory(profiles=profiles)
