"""Deterministic claim ids: one claim per encounter and payer, the same id on every re-run.

The service uses :func:`claim_id` too (dedup on ``(encounter, payer)``), so its formula is part of
the contract: ``"cb-" + sha256(f"{encounter_key}|{payer_id}")[:24]`` for the default EHR, and
``"cb-" + sha256(f"{ehr}|{encounter_key}|{payer_id}")[:24]`` for a named one (identity is per EHR:
:mod:`app.domain.tenancy`).
"""

from __future__ import annotations

import hashlib

from app.domain.tenancy import DEFAULT_EHR

CLAIM_ID_SYSTEM = "urn:claimbridge:claim"


def claim_id(encounter_key: str, payer_id: str, *, ehr: str = DEFAULT_EHR) -> str:
    """``cb-`` + the first 24 hex digits of sha256 over ``[ehr|]encounter_key|payer_id``."""
    scoped = encounter_key if ehr == DEFAULT_EHR else f"{ehr}|{encounter_key}"
    digest = hashlib.sha256(f"{scoped}|{payer_id}".encode()).hexdigest()
    return f"cb-{digest[:24]}"
