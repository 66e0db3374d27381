"""Event payloads relayed to downstream consumers: references, versions and statuses, never PHI."""

from __future__ import annotations

from typing import Any

#: Outbox kind (and subject suffix) of a new claim version.
CLAIM_VERSION = "claim.version"


def claim_version_event(
    *, claim_id: str, version: int, status: str, encounter: str, payer_id: str | None, fingerprint: str
) -> dict[str, Any]:
    """What a consumer needs to react to a new claim version (it reads the claim from the API)."""
    return {
        "type": CLAIM_VERSION,
        "claim_id": claim_id,
        "version": version,
        "status": status,
        "encounter": encounter,
        "payer_id": payer_id,
        "fingerprint": fingerprint,
    }


def event_key(claim_id: str, version: int) -> str:
    """The outbox key, hence the JetStream message id: one per claim version."""
    return f"{CLAIM_VERSION}:{claim_id}/{version}"
