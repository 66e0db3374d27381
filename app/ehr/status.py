"""Subscription calls the sweep makes: ``$status`` (with reactivation of a stopped one) and ``$events``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.ehr.gateway import EhrConnection
from app.fhir.subscriptions import reactivation
from app.intake.notification import InvalidNotification, parse_status


@dataclass(frozen=True)
class RemoteStatus:
    status: str
    events_since_start: int | None
    reactivated: bool


async def remote_status(connection: EhrConnection, subscription_id: str) -> RemoteStatus:
    """``$status`` of one subscription; reactivate it (PUT ``requested``) when the EHR stopped it."""
    client = connection.reader
    bundle = await client.operation("Subscription", "status", resource_id=subscription_id)
    status, since = "off", None
    for entry in bundle.get("entry") or ():
        try:
            parsed = parse_status(entry.get("resource") or {})
        except InvalidNotification:
            continue
        if parsed.subscription_id == subscription_id:
            status, since = parsed.status, parsed.events_since_start
    if status not in ("error", "off"):
        return RemoteStatus(status, since, reactivated=False)
    body = reactivation(await client.read("Subscription", subscription_id))
    if body is None:
        return RemoteStatus(status, since, reactivated=False)
    written = await connection.writer.update(body, if_match_version=None)
    new_status = str((written.resource or {}).get("status") or "requested")
    return RemoteStatus(new_status, since, reactivated=True)


async def fetch_events(connection: EhrConnection, subscription_id: str, first: int, last: int) -> dict[str, Any]:
    params = {"eventsSinceNumber": str(first), "eventsUntilNumber": str(last)}
    return await connection.reader.operation("Subscription", "events", resource_id=subscription_id, params=params)
