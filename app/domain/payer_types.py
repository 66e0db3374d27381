"""Payer types and the claim filing indicator (837P SBR09, 005010X222A1) each one implies.

A payer profile may name its ``payer_type`` instead of the X12 code; when it gives neither, the code
comes from each claim's focal ``Coverage.type``. The order, documented in ``docs/rules.md``:

1. the profile's ``claim_filing_indicator``, when set (the payer's own instruction wins);
2. the focal Coverage's ``type``: an SBR09 code in ``urn:claimbridge:x12:claim-filing-indicator``, a
   Source of Payment Typology code (``https://nahdo.org/sopt``), or an HL7 v3 ActCode coverage type
   (``app.x12.from_fhir``);
3. the code of the profile's ``payer_type`` (:data:`PAYER_TYPES`);
4. nothing: the 837P builder refuses the claim and says which of these to add.
"""

from __future__ import annotations

from typing import Literal

PayerType = Literal[
    "medicare", "medicare-part-a", "medicare-advantage", "medicaid", "hmo", "ppo", "pos", "epo", "indemnity",
    "commercial", "bcbs", "tricare", "va", "federal-employees", "other-federal", "title-v", "workers-comp",
    "auto", "liability", "disability", "self-pay", "other-non-federal", "other",
]  # fmt: skip

#: payer_type -> SBR09 claim filing indicator code (005010X222A1).
PAYER_TYPES: dict[str, str] = {
    "medicare": "MB",  # Medicare Part B (professional claims)
    "medicare-part-a": "MA",
    "medicare-advantage": "16",  # HMO Medicare Risk
    "medicaid": "MC",
    "hmo": "HM",
    "ppo": "12",
    "pos": "13",
    "epo": "14",
    "indemnity": "15",
    "commercial": "CI",  # commercial insurance company (what many commercial payers want for PPOs too)
    "bcbs": "BL",
    "tricare": "CH",  # CHAMPUS
    "va": "VA",
    "federal-employees": "FI",
    "other-federal": "OF",
    "title-v": "TV",
    "workers-comp": "WC",
    "auto": "AM",
    "liability": "LM",
    "disability": "DS",
    "self-pay": "09",
    "other-non-federal": "11",
    "other": "ZZ",
}


def filing_indicator_for(payer_type: str | None) -> str | None:
    """The SBR09 code a payer type implies (None for no type)."""
    return PAYER_TYPES.get(payer_type) if payer_type else None
