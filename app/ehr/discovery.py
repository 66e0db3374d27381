"""What an EHR supports, read from its CapabilityStatement (``GET [base]/metadata``) and topic definitions.

- ``supports_events``: the ``Subscription`` resource (or the server) lists the backport ``$events``
  operation, so missed notifications can be replayed by number;
- ``topics``: the SubscriptionTopic canonicals it advertises (backport
  ``capabilitystatement-subscriptiontopic-canonical`` on ``rest.resource[Subscription]``);
- ``topic_listings``: where it lists topic definitions: ``SubscriptionTopic`` resources (R4B/R5
  servers) and/or ``Basic`` resources coded ``fhir-types|SubscriptionTopic`` (the backport IG's R4
  form, cross-version extensions ``extension-SubscriptionTopic.url`` / ``.resourceTrigger``).

A topic's URL says nothing reliable about what it triggers on (the IG's own example advertises
``.../patient-admission``), so the resource types come from each definition's resource triggers
(:func:`read_topic`, :func:`list_topics`). :func:`topics_by_type` picks, for each type claimbridge
subscribes to, an advertised topic first, then any other the server lists; advertised topics whose
definition could not be read are reported by :func:`unresolved` so the operator can name their type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from app.fhir.client import FhirClient
from app.fhir.errors import FhirError, FhirNetworkError, InvalidFhirResponse, error_for_status
from app.fhir.subscriptions import DEFAULT_CRITERIA

if TYPE_CHECKING:
    from app.ehr.gateway import EhrConnection, EhrGateway

TOPIC_EXTENSION = "capabilitystatement-subscriptiontopic-canonical"
EVENTS_OPERATION = "backport-subscription-events"
FHIR_TYPES = "http://hl7.org/fhir/fhir-types"
EXT_TOPIC_URL = "extension-SubscriptionTopic.url"
EXT_TOPIC_TRIGGER = "extension-SubscriptionTopic.resourceTrigger"
STRUCTURE_DEFINITION = "http://hl7.org/fhir/StructureDefinition/"
#: Search for each place topic definitions are listed.
LISTING_SEARCHES: dict[str, dict[str, str]] = {
    "SubscriptionTopic": {},
    "Basic": {"code": f"{FHIR_TYPES}|SubscriptionTopic"},
}


@dataclass(frozen=True)
class Capabilities:
    supports_events: bool
    topics: tuple[str, ...]
    topic_listings: tuple[str, ...]
    fhir_version: str | None


@dataclass(frozen=True)
class Topic:
    """A topic definition: its canonical URL and the resource types its triggers fire on."""

    url: str
    resource_types: tuple[str, ...]


@dataclass(frozen=True)
class TopicReport:
    """What topic discovery learned: a topic per type, advertised topics left unread, and why."""

    topics: dict[str, str]
    unresolved: tuple[str, ...]
    problem: str | None = None


NO_CAPABILITIES = Capabilities(False, (), (), None)


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
    events, topics, listings = False, list[str](), list[str]()
    for rest in statement.get("rest") or ():
        events = events or _has_events(rest.get("operation"))
        for resource in rest.get("resource") or ():
            kind = resource.get("type")
            if kind in LISTING_SEARCHES and _can_search(resource):
                listings.append(str(kind))
            if kind != "Subscription":
                continue
            events = events or _has_events(resource.get("operation"))
            for ext in resource.get("extension") or ():
                url = ext.get("valueCanonical") or ext.get("valueUri")
                if str(ext.get("url", "")).endswith(TOPIC_EXTENSION) and url:
                    topics.append(str(url))
    return Capabilities(
        events, tuple(dict.fromkeys(topics)), tuple(dict.fromkeys(listings)), statement.get("fhirVersion")
    )


def read_topic(resource: dict[str, Any]) -> Topic | None:
    """A ``SubscriptionTopic`` or a ``Basic``-wrapped topic as a :class:`Topic`; None if it is neither."""
    if resource.get("resourceType") == "SubscriptionTopic":
        url = resource.get("url")
        triggers = [t.get("resource") for t in resource.get("resourceTrigger") or ()]
    elif resource.get("resourceType") == "Basic" and _is_topic_code(resource.get("code")):
        exts = resource.get("extension") or ()
        url = next((e.get("valueUri") for e in exts if str(e.get("url", "")).endswith(EXT_TOPIC_URL)), None)
        triggers = [
            part.get("valueUri")
            for e in exts
            if str(e.get("url", "")).endswith(EXT_TOPIC_TRIGGER)
            for part in e.get("extension") or ()
            if part.get("url") == "resource"
        ]
    else:
        return None
    if not isinstance(url, str) or not url:
        return None
    types = [str(t).removeprefix(STRUCTURE_DEFINITION) for t in triggers if isinstance(t, str) and t]
    return Topic(url, tuple(dict.fromkeys(types)))


async def list_topics(client: FhirClient, caps: Capabilities) -> list[Topic]:
    """Every topic definition the server lists where its CapabilityStatement says it lists them."""
    out: dict[str, Topic] = {}
    for kind in caps.topic_listings:
        async for resource in client.search(kind, LISTING_SEARCHES[kind], matches_only=True):
            topic = read_topic(resource)
            if topic is not None:
                out.setdefault(topic.url, topic)
    return list(out.values())


async def discover_topics(connection: EhrConnection) -> list[Topic]:
    """Read the EHR's CapabilityStatement, then the topic definitions it lists (on the EHR's client)."""
    caps = await discover(connection.http, connection.record.base_url)
    return await list_topics(connection.reader, caps)


def learn_topics(gateway: EhrGateway, ehr: str, caps: Capabilities) -> TopicReport:
    """Read a registered EHR's topic definitions (authorized as the EHR is registered)."""
    if not caps.topic_listings:
        problem = "it lists no SubscriptionTopic or Basic topic definitions" if caps.topics else None
        return TopicReport({}, caps.topics, problem)
    try:
        found = gateway.call(ehr, lambda connection: list_topics(connection.reader, caps))
    except FhirError as exc:
        return TopicReport({}, caps.topics, f"cannot read its topic definitions: {exc}")
    return TopicReport(topics_by_type(caps, found), unresolved(caps, found))


def topics_by_type(caps: Capabilities, topics: Iterable[Topic]) -> dict[str, str]:
    """For each subscribed resource type, the topic to use: advertised ones first, in their order."""
    known = {t.url: t for t in topics}
    ordered = [known[url] for url in caps.topics if url in known]
    ordered += [t for url, t in known.items() if url not in caps.topics]
    out: dict[str, str] = {}
    for topic in ordered:
        for resource_type in topic.resource_types:
            if resource_type in DEFAULT_CRITERIA:
                out.setdefault(resource_type, topic.url)
    return out


def unresolved(caps: Capabilities, topics: Iterable[Topic]) -> tuple[str, ...]:
    """Advertised topics with no readable definition (their resource types are unknown)."""
    read = {t.url for t in topics}
    return tuple(url for url in caps.topics if url not in read)


def _is_topic_code(code: Any) -> bool:
    codings = (code or {}).get("coding") or ()
    return any(c.get("system") == FHIR_TYPES and c.get("code") == "SubscriptionTopic" for c in codings)


def _can_search(resource: dict[str, Any]) -> bool:
    interactions = {i.get("code") for i in resource.get("interaction") or ()}
    return not interactions or "search-type" in interactions


def _has_events(operations: Any) -> bool:
    for op in operations or ():
        if op.get("name") in ("events", "$events") or str(op.get("definition", "")).endswith(EVENTS_OPERATION):
            return True
    return False
