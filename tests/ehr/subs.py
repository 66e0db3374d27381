"""Subscriptions of the test EHR: backport topic-based and plain R4 criteria rest-hooks.

Topic subscriptions: created ``requested``, a handshake is POSTed to the endpoint (every
``channel.header`` replayed), and a 2xx answer makes them ``active`` (anything else: ``error``).
Each create/update of a resource of the topic's type that passes the filters is an event: the
subscription's ``events-since-subscription-start`` counter increases whether or not the notification
is delivered (``drop`` knob: events N..M are counted but never sent, creating a gap). A failed
delivery sets status ``error``; the server keeps counting but stops sending until the client PUTs
the subscription back to ``requested``. Heartbeats are sent when asked (no timer: deterministic).
``$events`` replays stored events; ``$status`` reports the counters.

Plain R4 criteria subscriptions (``Encounter?status=arrived,in-progress,finished``) become ``active`` without a
handshake and notify with an empty POST (no ``channel.payload``) or ``PUT {endpoint}/{type}/{id}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson

from app.fhir.notifications_build import (
    NotificationEvent,
    NotificationType,
    SubscriptionState,
    build_notification_bundle,
    build_status_bundle,
)
from app.fhir.subscriptions import EXT_FILTER_CRITERIA, EXT_PAYLOAD_CONTENT
from tests.ehr.store import SEARCH_PARAMS, SearchError, Store, instant, matches

TOPIC_BASE = "https://ehr.test/fhir/topics"
TOPICS: dict[str, str] = {
    f"{TOPIC_BASE}/encounter": "Encounter",
    f"{TOPIC_BASE}/coverage": "Coverage",
    f"{TOPIC_BASE}/service-request": "ServiceRequest",
    f"{TOPIC_BASE}/medication-request": "MedicationRequest",
    f"{TOPIC_BASE}/charge-item": "ChargeItem",
    f"{TOPIC_BASE}/procedure": "Procedure",
}
CONTENTS = ("empty", "id-only", "full-resource")


class SubscriptionRejected(ValueError):
    """The Subscription asks for something this server does not support (answered 400)."""


@dataclass
class Channel:
    """A parsed subscription: what triggers it and where notifications go."""

    subscription_id: str
    resource_type: str
    topic: str | None
    filters: list[tuple[str, str]]
    content: str
    endpoint: str
    payload: str | None
    headers: dict[str, str]
    events: list[NotificationEvent] = field(default_factory=list)
    dropped: set[int] = field(default_factory=set)


def parse_subscription(resource: dict[str, Any]) -> Channel:
    """Read a Subscription into a :class:`Channel`, rejecting unsupported requests."""
    channel = resource.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise SubscriptionRejected("only rest-hook channels are supported")
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        raise SubscriptionRejected("channel.endpoint must be an http(s) URL")
    criteria = str(resource.get("criteria") or "")
    headers = dict(_header(h) for h in channel.get("header") or ())
    payload = channel.get("payload")
    if criteria in TOPICS:
        resource_type, topic = TOPICS[criteria], criteria
        filters = [_filter(f, resource_type) for f in _extension_values(resource.get("_criteria"), EXT_FILTER_CRITERIA)]
        contents = _extension_values(channel.get("_payload"), EXT_PAYLOAD_CONTENT)
        if len(contents) != 1 or contents[0] not in CONTENTS:
            raise SubscriptionRejected("channel._payload needs exactly one backport-payload-content code")
        content = contents[0]
    elif "?" in criteria and criteria.split("?")[0] in TOPICS.values():
        resource_type, _, query = criteria.partition("?")
        topic, content = None, "full-resource" if payload else "empty"
        filters = [_filter(f"{name}={value}", resource_type) for name, value in parse_qsl(query)]
    else:
        raise SubscriptionRejected(f"unsupported topic or criteria {criteria!r}")
    return Channel(str(resource["id"]), resource_type, topic, filters, content, endpoint, payload, headers)


def _extension_values(element: Any, url: str) -> list[str]:
    extensions = (element or {}).get("extension") or []
    return [str(next(v for k, v in e.items() if k.startswith("value"))) for e in extensions if e.get("url") == url]


def _header(line: str) -> tuple[str, str]:
    name, sep, value = line.partition(":")
    if not sep or not name.strip():
        raise SubscriptionRejected(f"channel.header {line!r} is not 'Name: value'")
    return name.strip(), value.strip()


def _filter(expression: str, resource_type: str) -> tuple[str, str]:
    name, _, value = expression.partition("=")
    for prefix in (f"{resource_type}?", f"{resource_type}."):
        name = name.removeprefix(prefix)
    if ":" in name or not value:
        raise SubscriptionRejected(f"filter {expression!r} is not supported")
    if name not in ("_id", "identifier") and (resource_type, name) not in SEARCH_PARAMS:
        raise SubscriptionRejected(f"filter parameter {name!r} is not supported for {resource_type}")
    return name, value


class SubscriptionHub:
    """Delivers notifications for every subscription stored in the test EHR."""

    def __init__(self, *, store: Store, base_url: str, notifier: httpx.AsyncClient | None, clock: Callable[[], float]):
        self.store = store
        self.base_url = base_url
        self.notifier = notifier
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self.deliveries: list[tuple[str, str, int | None]] = []  # (subscription id, type, HTTP status)
        self.handshake_later = False  # answer a create with ``requested``; :meth:`handshake` sends it

    async def activate(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Store a requested Subscription, handshake it, and return its stored (new) state."""
        channel = parse_subscription(resource)
        previous = self.channels.get(channel.subscription_id)
        if previous is not None:
            channel.events, channel.dropped = previous.events, previous.dropped
        self.channels[channel.subscription_id] = channel
        stored, _ = self.store.write({**resource, "status": "requested"})
        if channel.topic is None:
            return self._set_status(stored, "active")
        if self.handshake_later:
            return stored
        return await self.handshake(channel.subscription_id)

    async def handshake(self, subscription_id: str) -> dict[str, Any]:
        """Send the handshake of a requested subscription; ``active`` on a 2xx, else ``error``."""
        channel = self.channels[subscription_id]
        stored = self.store.by_key(f"Subscription/{subscription_id}")
        assert stored is not None
        ok = await self._deliver(channel, stored, "handshake", [])
        return self._set_status(stored, "active" if ok else "error")

    async def on_write(self, resource: dict[str, Any], *, created: bool) -> None:
        """Count an event for each subscription the written resource triggers, and notify."""
        for channel in list(self.channels.values()):
            if channel.resource_type != resource["resourceType"]:
                continue
            try:
                hit = matches(resource, channel.filters)
            except SearchError:
                hit = False
            if not hit:
                continue
            subscription = self.store.by_key(f"Subscription/{channel.subscription_id}")
            if subscription is None or subscription["status"] not in ("active", "error"):
                continue
            event = NotificationEvent(len(channel.events) + 1, instant(self.clock()), resource, created=created)
            channel.events.append(event)
            if subscription["status"] == "active" and event.number not in channel.dropped:
                if not await self._deliver(channel, subscription, "event-notification", [event]):
                    self._set_status(subscription, "error")

    async def heartbeat(self, subscription_id: str) -> bool:
        """Send one heartbeat now; True when the endpoint answered 2xx."""
        channel = self.channels[subscription_id]
        subscription = self.store.by_key(f"Subscription/{subscription_id}")
        assert subscription is not None
        return await self._deliver(channel, subscription, "heartbeat", [])

    def status_bundle(self, ids: list[str]) -> dict[str, Any]:
        states = [self.state(i) for i in ids if i in self.channels]
        return build_status_bundle(states, timestamp=instant(self.clock()))

    def events_bundle(self, subscription_id: str, since: int, until: int, content: str | None) -> dict[str, Any]:
        channel = self.channels[subscription_id]
        events = [e for e in channel.events if since <= e.number <= until]
        return build_notification_bundle(
            self.state(subscription_id),
            notification_type="query-event",
            timestamp=instant(self.clock()),
            events=events,
            content=_content(content or channel.content),
        )

    def state(self, subscription_id: str) -> SubscriptionState:
        channel = self.channels[subscription_id]
        subscription = self.store.by_key(f"Subscription/{subscription_id}") or {}
        return SubscriptionState(
            base_url=self.base_url,
            subscription_id=subscription_id,
            topic=channel.topic,
            status=str(subscription.get("status", "off")),
            events_since_start=len(channel.events),
        )

    def _set_status(self, subscription: dict[str, Any], status: str) -> dict[str, Any]:
        stored, _ = self.store.write({**subscription, "status": status})
        return stored

    async def _deliver(
        self, channel: Channel, subscription: dict[str, Any], kind: NotificationType, events: list[NotificationEvent]
    ) -> bool:
        request = self._request(channel, subscription, kind, events)
        status: int | None = None
        if self.notifier is not None:
            try:
                status = (await self.notifier.send(request)).status_code
            except httpx.TransportError:
                status = None
        self.deliveries.append((channel.subscription_id, kind, status))
        return status is not None and 200 <= status < 300

    def _request(
        self, channel: Channel, subscription: dict[str, Any], kind: NotificationType, events: list[NotificationEvent]
    ) -> httpx.Request:
        headers = dict(channel.headers)
        if channel.topic is None:
            if channel.payload is None or not events:
                return httpx.Request("POST", channel.endpoint, headers=headers)
            focus = events[0].focus
            url = f"{channel.endpoint.rstrip('/')}/{focus['resourceType']}/{focus['id']}"
            headers["Content-Type"] = channel.payload
            return httpx.Request("PUT", url, headers=headers, content=orjson.dumps(focus))
        state = self.state(channel.subscription_id)
        state = SubscriptionState(**{**state.__dict__, "status": subscription["status"]})
        bundle = build_notification_bundle(
            state,
            notification_type=kind,
            timestamp=instant(self.clock()),
            events=events,
            content=_content(channel.content),
        )
        headers["Content-Type"] = channel.payload or "application/fhir+json"
        return httpx.Request("POST", channel.endpoint, headers=headers, content=orjson.dumps(bundle))


def _content(value: str) -> Any:
    if value not in CONTENTS:
        raise SubscriptionRejected(f"unknown payload content {value!r}")
    return value
