"""Build R4 backport notification Bundles and status Parameters (the EHR's side). Pure.

Used by the test EHR (``tests/ehr``) and by tests of the intake to produce notifications shaped like
the IG and Inferno examples: a ``history`` Bundle whose first entry is the
``backport-subscription-status-r4`` Parameters (with ``request`` = ``GET …/Subscription/{id}/$status``
and ``response.status`` = ``200``), then one entry per focus resource with ``fullUrl``, ``request``
and ``response`` — and ``resource`` only when the payload content is ``full-resource``. With
``empty`` content there is neither ``focus`` nor any other entry. Handshakes and heartbeats carry
no ``notification-event``; ``events-since-subscription-start`` is a string (int64).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from app.fhir.subscriptions import BACKPORT

PROFILE_NOTIFICATION_R4 = f"{BACKPORT}/StructureDefinition/backport-subscription-notification-r4"
PROFILE_STATUS_R4 = f"{BACKPORT}/StructureDefinition/backport-subscription-status-r4"
NotificationType = Literal["handshake", "heartbeat", "event-notification", "query-status", "query-event"]
Content = Literal["empty", "id-only", "full-resource"]


@dataclass(frozen=True)
class NotificationEvent:
    """One triggering event: its number, time, and the focus resource (as stored at that time)."""

    number: int
    timestamp: str
    focus: dict[str, Any]
    #: True when the event created the resource (entry.request POST), False for an update (PUT).
    created: bool = False
    additional_context: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class SubscriptionState:
    """What the status Parameters say about the subscription."""

    base_url: str
    subscription_id: str
    topic: str | None
    status: str
    events_since_start: int


def build_status(
    state: SubscriptionState,
    *,
    notification_type: NotificationType,
    events: Sequence[NotificationEvent] = (),
    content: Content = "id-only",
    status_id: str | None = None,
) -> dict[str, Any]:
    """The ``backport-subscription-status-r4`` Parameters resource."""
    params: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": _subscription_url(state)}},
    ]
    if state.topic and content != "empty":
        params.append({"name": "topic", "valueCanonical": state.topic})
    params += [
        {"name": "status", "valueCode": state.status},
        {"name": "type", "valueCode": notification_type},
        {"name": "events-since-subscription-start", "valueString": str(state.events_since_start)},
    ]
    for event in events:
        parts: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(event.number)},
            {"name": "timestamp", "valueInstant": event.timestamp},
        ]
        if content != "empty":
            parts.append({"name": "focus", "valueReference": {"reference": _full_url(state, event.focus)}})
            parts += [
                {"name": "additional-context", "valueReference": {"reference": ref}} for ref in event.additional_context
            ]
        params.append({"name": "notification-event", "part": parts})
    return {
        "resourceType": "Parameters",
        "id": status_id or str(uuid.uuid4()),
        "meta": {"profile": [PROFILE_STATUS_R4]},
        "parameter": params,
    }


def build_notification_bundle(
    state: SubscriptionState,
    *,
    notification_type: NotificationType,
    timestamp: str,
    events: Sequence[NotificationEvent] = (),
    content: Content = "id-only",
    bundle_id: str | None = None,
) -> dict[str, Any]:
    """A ``history`` Bundle: the status entry first, then one entry per event focus (unless empty)."""
    status = build_status(state, notification_type=notification_type, events=events, content=content)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{status['id']}",
            "resource": status,
            "request": {"method": "GET", "url": f"{_subscription_url(state)}/$status"},
            "response": {"status": "200"},
        }
    ]
    if content != "empty":
        entries += [_event_entry(state, event, full=content == "full-resource") for event in events]
    return {
        "resourceType": "Bundle",
        "id": bundle_id or str(uuid.uuid4()),
        "meta": {"profile": [PROFILE_NOTIFICATION_R4]},
        "type": "history",
        "timestamp": timestamp,
        "entry": entries,
    }


def build_status_bundle(states: Sequence[SubscriptionState], *, timestamp: str) -> dict[str, Any]:
    """The ``$status`` answer: a searchset Bundle of one ``query-status`` Parameters per subscription."""
    entries = []
    for state in states:
        status = build_status(state, notification_type="query-status")
        entries.append({"fullUrl": f"urn:uuid:{status['id']}", "resource": status, "search": {"mode": "match"}})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "timestamp": timestamp,
        "entry": entries,
    }


def _subscription_url(state: SubscriptionState) -> str:
    return f"{state.base_url.rstrip('/')}/Subscription/{state.subscription_id}"


def _full_url(state: SubscriptionState, resource: dict[str, Any]) -> str:
    return f"{state.base_url.rstrip('/')}/{resource['resourceType']}/{resource['id']}"


def _event_entry(state: SubscriptionState, event: NotificationEvent, *, full: bool) -> dict[str, Any]:
    focus = event.focus
    entry: dict[str, Any] = {"fullUrl": _full_url(state, focus)}
    if full:
        entry["resource"] = focus
    if event.created:
        entry["request"] = {"method": "POST", "url": focus["resourceType"]}
        entry["response"] = {"status": "201"}
    else:
        entry["request"] = {"method": "PUT", "url": f"{focus['resourceType']}/{focus['id']}"}
        entry["response"] = {"status": "200"}
    return entry
