"""Event payloads relayed to downstream consumers: references, versions and statuses, never PHI."""

from __future__ import annotations

from typing import Any

#: Outbox kind (and subject suffix) of a new claim version.
CLAIM_VERSION = "claim.version"
#: Outbox kind (and subject suffix) of a claim's status change without a new version (a withdrawal).
CLAIM_STATUS = "claim.status"


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


def claim_status_event(
    *, claim_id: str, version: int, status: str, encounter: str, payer_id: str | None, reason: str
) -> dict[str, Any]:
    """A claim's current version changed status (``reason``: the rule id of the finding saying why)."""
    return {
        "type": CLAIM_STATUS,
        "claim_id": claim_id,
        "version": version,
        "status": status,
        "encounter": encounter,
        "payer_id": payer_id,
        "reason": reason,
    }


def status_event_key(claim_id: str, version: int, status: str) -> str:
    """One message id per claim version and status: a status reached once is relayed once."""
    return f"{CLAIM_STATUS}:{claim_id}/{version}/{status}"
