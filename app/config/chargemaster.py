"""The charge master (``config/chargemaster.yaml``): the billed charge per unit of each CPT/HCPCS code.

The same price goes to every payer (what a payer allows is the fee schedule's business, not the
charge's). Schema, checked at load time with file and line in every error::

    version: "2024.3"          # optional, recorded nowhere else but useful in reviews
    currency: USD              # optional, default USD
    charges:
      "99213": 145.00          # code (quoted string) -> price per unit, > 0, at most 2 decimals
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.config.yamlfile import validate_file
from app.domain.chargemaster import ChargeMaster

_CODE = re.compile(r"^(\d{5}|\d{4}[FTU]|[A-V]\d{4})$")


class ChargeMasterModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str | None = None
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    charges: dict[str, Decimal]

    @field_validator("charges", mode="before")
    @classmethod
    def _check_charges(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for code, price in value.items():
            if not isinstance(code, str) or not _CODE.match(code):
                raise ValueError(f"{code!r} is not a CPT/HCPCS code written as a quoted string")
            if isinstance(price, bool) or not isinstance(price, int | float | str):
                raise ValueError(f"{code}: price must be a number")
        return value

    @field_validator("charges")
    @classmethod
    def _check_prices(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, price in value.items():
            if price <= 0 or price != price.quantize(Decimal("0.01")):
                raise ValueError(f"{code}: price {price} must be positive with at most 2 decimals")
        return value


def load_chargemaster(directory: Path) -> ChargeMaster:
    """Read and check ``directory/chargemaster.yaml``."""
    model = validate_file(directory / "chargemaster.yaml", ChargeMasterModel)
    prices = {code: Decimal(str(price)).quantize(Decimal("0.01")) for code, price in model.charges.items()}
    return ChargeMaster(charges=prices, currency=model.currency)
