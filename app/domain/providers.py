"""What claimbridge knows about a billing provider beyond its FHIR Organization (``config/providers.yaml``).

Plain frozen dataclasses read by the mapper's claim settings (:mod:`app.mappers.claim_settings`) and
the rules: the lab's CLIA number and certificate type (837P ``REF*X4``; QW on waived tests under a
certificate of waiver), the billing taxonomy (``PRV*BI``) and the participation settings that
become CLM07-CLM09.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLIA_CERTIFICATES = ("waiver", "ppm", "compliance", "accreditation", "registration")


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    npi: str
    name: str = ""
    clia_number: str | None = None
    clia_certificate: str | None = None  # one of CLIA_CERTIFICATES
    taxonomy: str | None = None
    assignment: str | None = None  # CLM07: A, B, C
    benefits_assignment: str | None = None  # CLM08: Y, N, W
    release_of_information: str | None = None  # CLM09: I, Y


@dataclass(frozen=True)
class ProviderDirectory:
    """Settings by billing NPI; a provider without an entry has none (the 837P defaults apply)."""

    providers: dict[str, ProviderSettings] = field(default_factory=dict)

    def settings_for(self, npi: str | None) -> ProviderSettings | None:
        return self.providers.get(npi or "")
