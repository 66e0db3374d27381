"""The charge master at run time: the practice's price per CPT/HCPCS code (read by the mappers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class ChargeMaster:
    charges: Mapping[str, Decimal] = field(default_factory=dict)
    currency: str = "USD"

    def price(self, code: str) -> Decimal | None:
        """Charge per unit of ``code``, or None when the code is not priced."""
        return self.charges.get(code)
