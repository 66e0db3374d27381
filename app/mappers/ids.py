"""Deterministic claim ids: one claim per encounter and payer, the same id on every re-run.

The service uses :func:`claim_id` too (dedup on ``(encounter, payer)``), so its formula is part of
the contract: ``"cb-" + sha256(f"{encounter_key}|{payer_id}")[:24]``.
"""

from __future__ import annotations

import hashlib

CLAIM_ID_SYSTEM = "urn:claimbridge:claim"


def claim_id(encounter_key: str, payer_id: str) -> str:
    """``cb-`` + the first 24 hex digits of sha256 over ``encounter_key|payer_id``."""
    digest = hashlib.sha256(f"{encounter_key}|{payer_id}".encode()).hexdigest()
    return f"cb-{digest[:24]}"
