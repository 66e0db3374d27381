"""The X12 adapter: 270 out, 271 in (005010X279A1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx

from app.domain.eligibility import EligibilityEndpoint, EligibilityRequest, EligibilityResult
from app.eligibility.errors import PayerRefused


@dataclass
class X12Adapter:
    endpoint: EligibilityEndpoint
    client: httpx.AsyncClient
    source: str = "x12"

    async def verify(self, request: EligibilityRequest, *, now: datetime) -> EligibilityResult:
        raise PayerRefused("the X12 adapter is not available yet")
