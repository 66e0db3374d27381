"""Subscription resources claimbridge asks an EHR to create, and when to reactivate them. Pure.

Two shapes, both R4 ``Subscription`` with ``channel.type = rest-hook``:

- :func:`build_topic_subscription` — R5 Backport IG (STU 1.1.0) topic-based: ``criteria`` is the
  topic canonical, filters ride in ``_criteria`` (``backport-filter-criteria``), the payload level in
  ``channel._payload`` (``backport-payload-content``), the heartbeat period on ``channel``;
- :func:`build_criteria_subscription` — plain R4: ``criteria`` is a search string such as
  ``Encounter?status=arrived,in-progress,finished`` (no payload = empty POST; with payload = PUT of the resource).

Both put ``Authorization: Bearer <secret>`` in ``channel.header`` so the EHR replays it on every
notification and the intake can verify the sender. :func:`reactivation` answers the client-side
recovery rule of the IG: a subscription in ``error`` or ``off`` is PUT back with ``requested``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Literal

from app.errors import FatalError

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"
PROFILE_BACKPORT_SUBSCRIPTION = f"{BACKPORT}/StructureDefinition/backport-subscription"
EXT_FILTER_CRITERIA = f"{BACKPORT}/StructureDefinition/backport-filter-criteria"
EXT_PAYLOAD_CONTENT = f"{BACKPORT}/StructureDefinition/backport-payload-content"
EXT_HEARTBEAT_PERIOD = f"{BACKPORT}/StructureDefinition/backport-heartbeat-period"
EXT_TIMEOUT = f"{BACKPORT}/StructureDefinition/backport-timeout"
EXT_MAX_COUNT = f"{BACKPORT}/StructureDefinition/backport-max-count"
FHIR_JSON = "application/fhir+json"

PayloadContent = Literal["empty", "id-only", "full-resource"]
PAYLOAD_CONTENTS: tuple[PayloadContent, ...] = ("empty", "id-only", "full-resource")
#: Resource types claimbridge subscribes to, with the plain-R4 criteria used for each.
DEFAULT_CRITERIA: dict[str, str] = {
    # Check-in (arrived / in-progress) verifies eligibility while the patient is at the desk
    # (app.eligibility.triggers); finished bills the visit.
    "Encounter": "Encounter?status=arrived,in-progress,finished",
    "Coverage": "Coverage?status=active",
    # Orders: active ones are checked for prior authorization (app.priorauth), completed ones are billed
    # (app.mappers), and one revoked or entered in error after it was billed re-bills the visit without it.
    "ServiceRequest": "ServiceRequest?status=active,completed,revoked,entered-in-error",
    "MedicationRequest": "MedicationRequest?status=active,completed,stopped,entered-in-error",
    # Charges the EHR records itself; every status, so a charge that stops being billable re-bills.
    "ChargeItem": "ChargeItem?status=billable,billed,not-billable,aborted,entered-in-error",
    "Procedure": "Procedure?status=completed,entered-in-error",
    # Booked visits: verified for eligibility at booking and 24 hours before (app.eligibility).
    "Appointment": "Appointment?status=booked,cancelled",
}
#: Types subscribed to only when the EHR advertises a topic for them (or with plain criteria); without
#: a subscription their changes still arrive with the encounter's context (``_revinclude``).
OPTIONAL_TYPES = frozenset({"ChargeItem", "Procedure", "Appointment"})
#: Of those, the ones a plain-criteria EHR is subscribed to only when asked by name (``types``).
ON_REQUEST_TYPES = frozenset({"Appointment"})
REACTIVATE_FROM = frozenset({"error", "off"})


class SubscriptionSpecError(FatalError, ValueError):
    """A subscription request claimbridge refuses to build."""


def build_topic_subscription(
    *,
    resource_type: str,
    topic: str,
    endpoint: str,
    secret: str,
    filters: Sequence[str] = (),
    content: PayloadContent = "id-only",
    heartbeat_seconds: int | None = 3600,
    timeout_seconds: int | None = None,
    max_count: int | None = None,
    end: str | None = None,
    allow_insecure_endpoint: bool = False,
) -> dict[str, Any]:
    """A backport topic-based Subscription (status ``requested``) for ``resource_type`` events."""
    _check_type(resource_type)
    _check_endpoint(endpoint, allow_insecure=allow_insecure_endpoint)
    if content not in PAYLOAD_CONTENTS:
        raise SubscriptionSpecError(f"payload content {content!r} not one of {PAYLOAD_CONTENTS}")
    for expression in filters:
        _check_filter(expression, resource_type)
    channel_ext = [
        _ext(EXT_HEARTBEAT_PERIOD, "valueUnsignedInt", heartbeat_seconds),
        _ext(EXT_TIMEOUT, "valueUnsignedInt", timeout_seconds),
        _ext(EXT_MAX_COUNT, "valuePositiveInt", max_count),
    ]
    subscription: dict[str, Any] = {
        "resourceType": "Subscription",
        "meta": {"profile": [PROFILE_BACKPORT_SUBSCRIPTION]},
        "status": "requested",
        "reason": f"claimbridge: {resource_type} events for billing",
        "criteria": topic,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": FHIR_JSON,
            "_payload": {"extension": [_ext(EXT_PAYLOAD_CONTENT, "valueCode", content)]},
            "header": [_bearer_header(secret)],
        },
    }
    if filters:
        subscription["_criteria"] = {"extension": [_ext(EXT_FILTER_CRITERIA, "valueString", f) for f in filters]}
    present = [ext for ext in channel_ext if ext]
    if present:
        subscription["channel"]["extension"] = present
    if end:
        subscription["end"] = end
    return subscription


def build_criteria_subscription(
    *,
    resource_type: str,
    endpoint: str,
    secret: str,
    criteria: str | None = None,
    with_payload: bool = True,
    end: str | None = None,
    allow_insecure_endpoint: bool = False,
) -> dict[str, Any]:
    """A plain R4 criteria Subscription, e.g. ``Coverage?status=active`` (the default per type)."""
    _check_type(resource_type)
    _check_endpoint(endpoint, allow_insecure=allow_insecure_endpoint)
    criteria = criteria or DEFAULT_CRITERIA[resource_type]
    if not criteria.startswith(f"{resource_type}?"):
        raise SubscriptionSpecError(f"criteria {criteria!r} must search {resource_type}")
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": endpoint, "header": [_bearer_header(secret)]}
    if with_payload:
        channel["payload"] = FHIR_JSON
    subscription: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": f"claimbridge: {resource_type} changes for billing",
        "criteria": criteria,
        "channel": channel,
    }
    if end:
        subscription["end"] = end
    return subscription


def needs_reactivation(subscription: dict[str, Any]) -> bool:
    """True when the EHR stopped delivering (status ``error`` or ``off``); it never restarts by itself."""
    return subscription.get("status") in REACTIVATE_FROM


def reactivation(subscription: dict[str, Any]) -> dict[str, Any] | None:
    """The body to PUT to reactivate ``subscription`` (status ``requested``), or None if not needed."""
    if not needs_reactivation(subscription):
        return None
    if not subscription.get("id"):
        raise SubscriptionSpecError("cannot reactivate a subscription without an id")
    body = copy.deepcopy(subscription)
    body["status"] = "requested"
    body.pop("error", None)
    return body


def _ext(url: str, value_key: str, value: Any) -> dict[str, Any]:
    return {} if value is None else {"url": url, value_key: value}


def _bearer_header(secret: str) -> str:
    if len(secret) < 16 or any(ch.isspace() for ch in secret):
        raise SubscriptionSpecError("the notification secret must be >= 16 characters without spaces")
    return f"Authorization: Bearer {secret}"


def _check_type(resource_type: str) -> None:
    if resource_type not in DEFAULT_CRITERIA:
        raise SubscriptionSpecError(f"no subscription for {resource_type!r}; supported: {sorted(DEFAULT_CRITERIA)}")


def _check_endpoint(endpoint: str, *, allow_insecure: bool) -> None:
    if endpoint.startswith("https://"):
        return
    if allow_insecure and endpoint.startswith("http://"):
        return
    raise SubscriptionSpecError(f"notification endpoint must be https (got {endpoint.split('://')[0]}://)")


def _check_filter(expression: str, resource_type: str) -> None:
    name, sep, value = expression.partition("=")
    if not sep or not name or not value:
        raise SubscriptionSpecError(f"filter {expression!r} is not [type.]param[:modifier]=value")
    for prefix_sep in ("?", "."):
        prefix, found, _rest = name.partition(prefix_sep)
        if found and prefix[:1].isupper() and prefix != resource_type:
            raise SubscriptionSpecError(f"filter {expression!r} targets {prefix}, not {resource_type}")
