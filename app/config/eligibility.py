"""The ``eligibility:`` section of a payer profile: where and how to verify coverage in real time.

The minimal section is ``eligibility: {fhir_base_url: URL}`` (FHIR ``CoverageEligibilityRequest/$submit``,
no auth, default timeouts and retries). ``adapter: x12`` asks over X12 270/271 through the
clearinghouse's real-time channel (``clearinghouse.api.eligibility_path``); ``x12_url`` overrides that
with the payer's own endpoint (and alone selects the X12 adapter); with both URLs, ``adapter`` says
which one. Secrets are never in the file: ``client_secret_env`` names the
environment variable that holds one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from app.domain.eligibility import EligibilityEndpoint


class EligibilitySection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    adapter: Literal["fhir", "x12"] | None = None
    fhir_base_url: HttpUrl | None = None
    submit_path: str = Field("CoverageEligibilityRequest/$submit", min_length=1)
    x12_url: HttpUrl | None = None
    auth: Literal["none", "smart-backend", "oauth2-client-credentials"] = "none"
    token_url: HttpUrl | None = None
    client_id: str | None = None
    client_secret_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    key_path: str | None = None
    scope: str | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    max_attempts: int = Field(3, ge=1, le=10)
    backoff_base_seconds: float = Field(0.5, gt=0)
    backoff_cap_seconds: float = Field(5.0, gt=0)
    max_retry_after_seconds: float = Field(30.0, ge=0)
    breaker_threshold: int = Field(5, ge=1)
    breaker_cooldown_seconds: float = Field(60.0, gt=0)
    concurrency: int = Field(16, ge=1, le=256)
    claim_wait_seconds: float = Field(600.0, ge=0, le=86400)
    service_types: list[str] = Field(default_factory=lambda: ["30"], min_length=1)
    x12_receiver_id: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EligibilitySection:
        chosen = self.chosen_adapter()
        if chosen == "fhir" and self.fhir_base_url is None:
            raise ValueError("the fhir adapter needs fhir_base_url")
        if self.auth == "oauth2-client-credentials" and not (self.token_url and self.client_id):
            raise ValueError("auth oauth2-client-credentials needs token_url and client_id")
        if self.auth == "smart-backend" and not (self.client_id and self.key_path):
            raise ValueError("auth smart-backend needs client_id and key_path")
        return self

    def chosen_adapter(self) -> str:
        if self.adapter:
            return self.adapter
        if self.fhir_base_url is None and self.x12_url is None:
            raise ValueError(
                "give fhir_base_url (FHIR $submit), adapter: x12 (270/271 through the clearinghouse) or x12_url"
            )
        return "fhir" if self.fhir_base_url is not None else "x12"


def endpoint_from_section(section: EligibilitySection) -> EligibilityEndpoint:
    return EligibilityEndpoint(
        adapter=section.chosen_adapter(),
        fhir_base_url=str(section.fhir_base_url).rstrip("/") if section.fhir_base_url else None,
        submit_path=section.submit_path.lstrip("/"),
        x12_url=str(section.x12_url) if section.x12_url else None,
        auth=section.auth,
        token_url=str(section.token_url) if section.token_url else None,
        client_id=section.client_id,
        client_secret_env=section.client_secret_env,
        key_path=section.key_path,
        scope=section.scope,
        timeout_seconds=section.timeout_seconds,
        max_attempts=section.max_attempts,
        backoff_base_seconds=section.backoff_base_seconds,
        backoff_cap_seconds=section.backoff_cap_seconds,
        max_retry_after_seconds=section.max_retry_after_seconds,
        breaker_threshold=section.breaker_threshold,
        breaker_cooldown_seconds=section.breaker_cooldown_seconds,
        concurrency=section.concurrency,
        claim_wait_seconds=section.claim_wait_seconds,
        service_types=tuple(section.service_types),
        x12_receiver_id=section.x12_receiver_id,
    )
