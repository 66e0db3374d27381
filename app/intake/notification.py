"""Parse and check one notification body.

Accepted shapes (Subscriptions R5 Backport IG STU 1.1.0, R4 profile; plain R4 rest-hook):

- a ``Bundle`` of type ``history`` whose first entry is the subscription status ``Parameters``
  (handshake, heartbeat, event-notification, query-status, query-event; payload empty, id-only or
  full-resource); every entry carries ``request`` and ``response`` (bdl-3/bdl-4);
- a bare resource (POSTed to the hook, or PUT to ``/notifications/{type}/{id}``);
- an empty body (a plain R4 ping: "something matching your criteria changed").

Anything else raises :class:`InvalidNotification` with a message naming the problem (HTTP 400).
At the HTTP edge (``limits`` given) the body must also pass :mod:`app.intake.limits`: depth, NUL,
ids, the number of events, and each carried resource valid R4 (the worker's re-parse of a stored
body skips those checks: it was checked when it came in).
Carried resources without ids, and ``urn:uuid`` references between them (a focus too), come out
id-ful with ``Type/id`` references (:func:`app.domain.bundles.identify_entries`), as in ``check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from app.domain.bundles import identify_entries
from app.domain.context import reference_key
from app.intake.errors import BodyTooLarge
from app.intake.errors import InvalidNotification as InvalidNotification  # re-exported: callers import it here
from app.intake.limits import (
    IntakeLimits,
    check_events,
    check_id,
    check_json,
    check_reference_key,
    check_resource,
    json_depth,
)

NOTIFICATION_TYPES = frozenset({"handshake", "heartbeat", "event-notification", "query-status", "query-event"})
WORK_TYPES = frozenset({"event-notification", "query-event"})
# Resource types a plain rest-hook may deliver (what claims are built from).
PROCESSED_TYPES = frozenset(
    {
        "Encounter",
        "Coverage",
        "Appointment",
        "ServiceRequest",
        "MedicationRequest",
        "MedicationAdministration",
        "Patient",
        "Condition",
        "Procedure",
        "ChargeItem",
        "DocumentReference",
        "Observation",
        "DiagnosticReport",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Location",
        "CoverageEligibilityResponse",
    }
)
SUBSCRIPTION_STATUSES = frozenset({"requested", "active", "error", "off", "entered-in-error"})
MAX_INT64 = 2**63 - 1  # event numbers are integer64 (the columns holding them are BIGINT)


@dataclass(frozen=True, slots=True)
class Event:
    number: int | None
    focus: str | None  # "Type/id"
    focus_version: str | None
    timestamp: str | None = None


@dataclass(frozen=True)
class Notification:
    kind: str  # a notification type, or "rest-hook" / "ping" / "delete"
    subscription_id: str | None
    bundle_id: str | None = None
    status: str | None = None
    topic: str | None = None
    events_since_start: int | None = None
    content: str = "empty"  # empty | id-only | full-resource
    events: tuple[Event, ...] = ()
    resources: tuple[tuple[dict[str, Any], str | None], ...] = field(default=())

    @property
    def carries_work(self) -> bool:
        return self.kind in WORK_TYPES or self.kind == "rest-hook"


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidNotification(f"body is not valid JSON: {exc}") from exc


def parse_notification(
    body: bytes, *, path_type: str | None = None, path_id: str | None = None, limits: IntakeLimits | None = None
) -> Notification:
    """Classify and check a notification body (``path_*`` from ``/notifications/{type}/{id}``).

    ``limits``: also apply the edge's checks (:mod:`app.intake.limits`).
    """
    if not body.strip():
        if path_type:
            raise InvalidNotification(f"empty body for {path_type}/{path_id}")
        return Notification(kind="ping", subscription_id=None)
    try:
        data = load_json(body)
    except InvalidNotification:
        if limits is not None and json_depth(body) > limits.body_depth:  # orjson stops at 1,024 levels
            raise BodyTooLarge(f"JSON body nested deeper than {limits.body_depth} levels") from None
        raise
    if limits is not None:
        check_json(body, data, limits)
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise InvalidNotification("body is not a FHIR resource (no resourceType)")
    if data["resourceType"] == "Bundle" and path_type is None:
        note = parse_notification_bundle(data, limits=limits)
    else:
        note = _parse_bare_resource(data, path_type=path_type, path_id=path_id)
    if limits is not None:
        check_carried(note, limits)
    return note


def check_carried(note: Notification, limits: IntakeLimits) -> None:
    """The edge's checks of a parsed notification: ids, focus and version ids, each resource valid R4."""
    if note.bundle_id is not None:
        check_id(note.bundle_id, "Bundle.id")
    for event in note.events:
        check_reference_key(event.focus, f"notification-event {event.number} focus")
        if event.focus_version is not None:
            check_id(event.focus_version, f"notification-event {event.number} focus version")
    for resource, _ in note.resources:
        check_resource(resource, validate=limits.validate_resources)


def _parse_bare_resource(data: dict[str, Any], *, path_type: str | None, path_id: str | None) -> Notification:
    resource_type, resource_id = data["resourceType"], data.get("id")
    if resource_type not in PROCESSED_TYPES:
        raise InvalidNotification(f"{resource_type} is not a resource type claimbridge processes")
    if not isinstance(resource_id, str) or not resource_id:
        raise InvalidNotification(f"{resource_type} has no id")
    if path_type is not None and (resource_type != path_type or resource_id != path_id):
        raise InvalidNotification(f"body is {resource_type}/{resource_id} but the URL names {path_type}/{path_id}")
    key = f"{resource_type}/{resource_id}"
    event = Event(number=None, focus=key, focus_version=_version_of(data))
    return Notification(
        kind="rest-hook",
        subscription_id=None,
        content="full-resource",
        events=(event,),
        resources=((data, None),),
    )


def parse_notification_bundle(bundle: dict[str, Any], *, limits: IntakeLimits | None = None) -> Notification:
    if bundle.get("type") == "subscription-notification":
        raise InvalidNotification("Bundle.type subscription-notification is R5; an R4 server sends history")
    if bundle.get("type") != "history":
        raise InvalidNotification(f"Bundle.type is {bundle.get('type')!r}, not a notification (history)")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InvalidNotification("notification Bundle has no entries (entry[0] must be the status)")
    for i, entry in enumerate(entries):
        _check_entry(i, entry)
    status = entries[0].get("resource")
    if not isinstance(status, dict) or status.get("resourceType") != "Parameters":
        raise InvalidNotification("entry[0].resource must be the subscription status Parameters")
    parsed = parse_status(status)
    others = entries[1:]
    if limits is not None:
        check_events(len(parsed.events), limits)
        for entry in others:  # an id that is there must be a FHIR id (an absent one is given one below)
            resource = entry.get("resource")
            if isinstance(resource, dict) and "id" in resource:
                check_id(resource["id"], f"{str(resource.get('resourceType'))[:64]} id")
    content = _content_of(parsed, others)
    resources = tuple(
        identify_entries((e["resource"], e.get("fullUrl")) for e in others if isinstance(e.get("resource"), dict))
    )
    events = tuple(_with_version(_focus_by_id(ev, resources), resources, others) for ev in parsed.events)
    unresolved = [ev.focus for ev in events if ev.focus and ev.focus.startswith("urn:")]
    if unresolved:  # a urn:uuid names an entry of this Bundle: no entry has it, so nothing can be fetched
        raise InvalidNotification(f"focus {unresolved[0]} is not the fullUrl of any entry of the notification")
    if content == "full-resource":  # the IG: a full-resource notification carries each event's focus
        carried = {f"{r.get('resourceType')}/{r.get('id')}" for r, _ in resources}
        missing = [ev.focus for ev in events if ev.focus and ev.focus not in carried]
        if missing:
            raise InvalidNotification(f"full-resource notification does not carry its focus {missing[0]}")
    return Notification(
        kind=parsed.kind,
        subscription_id=parsed.subscription_id,
        bundle_id=bundle.get("id") if isinstance(bundle.get("id"), str) else None,
        status=parsed.status,
        topic=parsed.topic,
        events_since_start=parsed.events_since_start,
        content=content,
        events=events,
        resources=resources,
    )


def _check_entry(i: int, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise InvalidNotification(f"entry[{i}] is not an object")
    request = entry.get("request")
    if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
        raise InvalidNotification(f"entry[{i}] has no request (method and url): history Bundles need it (bdl-3)")
    response = entry.get("response")
    if not isinstance(response, dict) or not response.get("status"):
        raise InvalidNotification(f"entry[{i}] has no response.status: history Bundles need it (bdl-4)")
    resource = entry.get("resource")
    if resource is not None and (not isinstance(resource, dict) or not resource.get("resourceType")):
        raise InvalidNotification(f"entry[{i}].resource has no resourceType")


@dataclass(frozen=True)
class StatusParameters:
    subscription_id: str
    kind: str
    status: str
    topic: str | None
    events_since_start: int | None
    events: tuple[Event, ...]


def parse_status(parameters: dict[str, Any]) -> StatusParameters:
    """Read a backport subscription status (R4 ``Parameters``), e.g. entry[0] or a ``$status`` result."""
    params = parameters.get("parameter")
    if not isinstance(params, list):
        raise InvalidNotification("status Parameters has no parameter list")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for p in params:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            by_name.setdefault(p["name"], []).append(p)
    subscription = _one(by_name, "subscription").get("valueReference", {})
    sub_key = reference_key(subscription.get("reference") if isinstance(subscription, dict) else None)
    if not sub_key or not sub_key.startswith("Subscription/"):
        raise InvalidNotification("status parameter 'subscription' is not a Subscription reference")
    kind = _one(by_name, "type").get("valueCode")
    if kind not in NOTIFICATION_TYPES:
        raise InvalidNotification(f"status parameter 'type' {kind!r} is not a notification type")
    status = _one(by_name, "status").get("valueCode")
    if status not in SUBSCRIPTION_STATUSES:
        raise InvalidNotification(f"status parameter 'status' {status!r} is not a subscription status")
    topic_p = by_name.get("topic", [{}])[0]
    since = by_name.get("events-since-subscription-start")
    events = tuple(_parse_event(p) for p in by_name.get("notification-event", ()))
    if kind in WORK_TYPES and not events:
        raise InvalidNotification(f"{kind} without notification-event")
    return StatusParameters(
        subscription_id=sub_key.split("/", 1)[1],
        kind=kind,
        status=status,
        topic=topic_p.get("valueCanonical") or topic_p.get("valueUri"),
        events_since_start=_as_int(since[0], "events-since-subscription-start") if since else None,
        events=events,
    )


def _one(by_name: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    found = by_name.get(name)
    if not found:
        raise InvalidNotification(f"status Parameters lacks the required parameter {name!r}")
    if len(found) > 1:
        raise InvalidNotification(f"status Parameters repeats the parameter {name!r}")
    return found[0]


def _as_int(param: dict[str, Any], name: str) -> int:
    for key in ("valueString", "valueInteger", "valueUnsignedInt", "valueInteger64", "valuePositiveInt"):
        if key in param:
            try:
                value = int(param[key])
            except (TypeError, ValueError):
                break
            if value < 0 or value > MAX_INT64:
                break
            return value
    raise InvalidNotification(f"{name} is not a non-negative 64-bit integer")


def _parse_event(param: dict[str, Any]) -> Event:
    parts = {p.get("name"): p for p in param.get("part") or () if isinstance(p, dict)}
    if "event-number" not in parts:
        raise InvalidNotification("notification-event lacks event-number")
    number = _as_int(parts["event-number"], "event-number")
    focus_ref = (parts.get("focus") or {}).get("valueReference") or {}
    raw = focus_ref.get("reference") if isinstance(focus_ref, dict) else None
    focus = reference_key(raw) if raw else None
    if raw and not focus:
        raise InvalidNotification(f"notification-event {number} focus {raw!r} is not a resource reference")
    return Event(
        number=number,
        focus=focus,
        focus_version=_history_version(raw),
        timestamp=(parts.get("timestamp") or {}).get("valueInstant"),
    )


def _content_of(status: StatusParameters, others: list[dict[str, Any]]) -> str:
    if status.kind not in WORK_TYPES:
        return "empty"
    has_focus = any(e.focus for e in status.events)
    if not has_focus:
        if others:
            raise InvalidNotification("empty notification (no focus) must not carry other entries")
        return "empty"
    return "full-resource" if any("resource" in e for e in others) else "id-only"


def _focus_by_id(event: Event, resources: tuple[tuple[dict[str, Any], str | None], ...]) -> Event:
    """A focus given as an entry's ``urn:uuid`` fullUrl becomes that resource's ``Type/id``."""
    if event.focus is None or not event.focus.startswith("urn:"):
        return event
    for resource, full_url in resources:
        if full_url == event.focus:
            key = f"{resource.get('resourceType')}/{resource.get('id')}"
            return Event(event.number, key, event.focus_version, event.timestamp)
    return event


def _with_version(
    event: Event, resources: tuple[tuple[dict[str, Any], str | None], ...], entries: list[dict[str, Any]]
) -> Event:
    if event.focus is None or event.focus_version is not None:
        return event
    for resource, _ in resources:
        if f"{resource.get('resourceType')}/{resource.get('id')}" == event.focus:
            return Event(event.number, event.focus, _version_of(resource), event.timestamp)
    for entry in entries:  # id-only: the version may be in fullUrl or request.url
        for url in (entry.get("fullUrl"), (entry.get("request") or {}).get("url")):
            if isinstance(url, str) and reference_key(url) == event.focus and "/_history/" in url:
                return Event(event.number, event.focus, _history_version(url), event.timestamp)
    return event


def _version_of(resource: dict[str, Any]) -> str | None:
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    return str(version) if version is not None else None


def _history_version(url: str | None) -> str | None:
    if not url or "/_history/" not in url:
        return None
    return url.rsplit("/_history/", 1)[1].strip("/") or None
