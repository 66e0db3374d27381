"""Billing-provider settings (``config/providers.yaml``, optional): CLIA, taxonomy, participation.

Schema, checked at load time with file and line in every error::

    providers:
      "1543829075":                      # the billing NPI (Organization or sole proprietor)
        name: Lakeview Medical Group     # for people reading the file
        clia_number: 36D0912345          # 2 digits, D, 7 digits (837P REF*X4)
        clia_certificate: compliance     # waiver | ppm | compliance | accreditation | registration
        taxonomy: 261QP2300X             # NUCC code for 2000A PRV*BI
        assignment: A                    # CLM07: A assigned, B lab only, C not assigned
        benefits_assignment: Y           # CLM08: Y, N or W
        release_of_information: Y        # CLM09: I or Y

A missing file means no provider has settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.config.yamlfile import validate_file
from app.domain.providers import ProviderDirectory, ProviderSettings

FILE = "providers.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderEntry(_Strict):
    name: str = ""
    clia_number: str | None = Field(default=None, pattern=r"^\d{2}D\d{7}$")
    clia_certificate: Literal["waiver", "ppm", "compliance", "accreditation", "registration"] | None = None
    taxonomy: str | None = Field(default=None, pattern=r"^[0-9A-Z]{9}X$")
    assignment: Literal["A", "B", "C"] | None = None
    benefits_assignment: Literal["Y", "N", "W"] | None = None
    release_of_information: Literal["I", "Y"] | None = None


class ProvidersFile(_Strict):
    providers: dict[str, ProviderEntry] = {}


def load_providers(directory: Path) -> ProviderDirectory:
    """Read ``directory/providers.yaml`` (an empty directory of settings when it is absent)."""
    path = directory / FILE
    if not path.is_file():
        return ProviderDirectory()
    model = validate_file(path, ProvidersFile)
    return ProviderDirectory(
        {npi: ProviderSettings(npi=npi, **entry.model_dump()) for npi, entry in model.providers.items()}
    )
