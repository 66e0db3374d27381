"""What an EHR supports, read from its CapabilityStatement (``GET [base]/metadata``).

- ``supports_events``: the ``Subscription`` resource (or the server) lists the backport ``$events``
  operation, so missed notifications can be replayed by number;
- ``topics``: the SubscriptionTopic canonicals it advertises (backport
  ``capabilitystatement-subscriptiontopic-canonical``), matched to the resource types claimbridge
  subscribes to by the type's name in the URL (``.../encounter``, ``.../service-request``). An EHR
  without topics is subscribed with plain R4 criteria.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from app.fhir.errors import FhirNetworkError, InvalidFhirResponse, error_for_status
from app.fhir.subscriptions import DEFAULT_CRITERIA

TOPIC_EXTENSION = "capabilitystatement-subscriptiontopic-canonical"
EVENTS_OPERATION = "backport-subscription-events"


@dataclass(frozen=True)
class Capabilities:
    supports_events: bool
    topics: dict[str, str]
    fhir_version: str | None


async def discover(http: httpx.AsyncClient, base_url: str) -> Capabilities:
    """Fetch and read the EHR's CapabilityStatement (no authorization needed for ``metadata``)."""
    url = base_url.rstrip("/") + "/metadata"
    try:
        response = await http.get(url, headers={"Accept": "application/fhir+json"})
    except httpx.TransportError as exc:
        raise FhirNetworkError(f"GET metadata: {type(exc).__name__}", url="GET metadata") from exc
    if response.status_code >= 400:
        raise error_for_status(response.status_code, body=None, where="GET metadata")
    try:
        body = response.json()
    except ValueError as exc:
        raise InvalidFhirResponse("GET metadata: not JSON") from exc
    if not isinstance(body, dict) or body.get("resourceType") != "CapabilityStatement":
        raise InvalidFhirResponse("GET metadata: not a CapabilityStatement")
    return read_capabilities(body)


def read_capabilities(statement: dict[str, Any]) -> Capabilities:
    events, topics = False, dict[str, str]()
    for rest in statement.get("rest") or ():
        events = events or _has_events(rest.get("operation"))
        for resource in rest.get("resource") or ():
            if resource.get("type") != "Subscription":
                continue
            events = events or _has_events(resource.get("operation"))
            for ext in resource.get("extension") or ():
                url = ext.get("valueCanonical") or ext.get("valueUri")
                if str(ext.get("url", "")).endswith(TOPIC_EXTENSION) and url:
                    resource_type = type_for_topic(str(url))
                    if resource_type:
                        topics.setdefault(resource_type, str(url))
    return Capabilities(events, topics, statement.get("fhirVersion"))


def type_for_topic(url: str) -> str | None:
    """The subscribed resource type a topic URL names, e.g. ``.../topics/service-request``."""
    flat = re.sub(r"[^a-z]", "", url.rsplit("/", 1)[-1].lower())
    matches = [t for t in DEFAULT_CRITERIA if t.lower() in flat]
    return max(matches, key=len) if matches else None


def _has_events(operations: Any) -> bool:
    for op in operations or ():
        if op.get("name") == "events" or str(op.get("definition", "")).endswith(EVENTS_OPERATION):
            return True
    return False
