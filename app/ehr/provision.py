"""``claimbridge subscriptions create``: ask an EHR for our Subscriptions and register them locally.

One Subscription per resource type claimbridge bills from (Encounter, Coverage, ServiceRequest,
MedicationRequest by default, and ChargeItem and Procedure when the EHR has topics for them or with
plain criteria; ``types`` names them explicitly), each with a fresh random secret the EHR
replays as ``Authorization: Bearer``: backport topic-based (the EHR's discovered topics, or topics
the operator names, ``URL`` or ``TYPE=URL``) or plain R4 criteria when asked (``plain=True``) or
when the EHR is registered with ``plain_criteria`` (the result says so: ``plain``). A type without
a topic is never silently subscribed with plain criteria: the request is refused, naming every such
type. Plain R4 has no id-only level: with ``full-resource`` the EHR PUTs the resource, otherwise it
POSTs an empty ping (a notified pull). Filters (``filterBy``), timeout, max count and end go on
every Subscription they fit (a filter prefixed with a type only on that type's).

All or nothing: every Subscription is built (types, topics, filters, endpoint) and the EHR's grant
checked before the first create; when a create fails later, the ones already created are deleted
on the EHR and here, and :class:`ProvisionRolledBack` says what failed and what was undone.

The EHR assigns the id on create and may handshake before we know it; so each one is registered
(``subscriptions add`` semantics, counted from event 1) right after the create and, if the
handshake failed meanwhile (status ``error``), reactivated once: the new handshake then succeeds.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine

from app.db import ehr_repo, subscriptions_repo
from app.db.ehr_repo import EhrRecord
from app.db.engine import read_only
from app.ehr.discovery import discover_topics
from app.ehr.gateway import EhrConnection, EhrGateway, UnknownEhr
from app.errors import ClaimbridgeError, FatalError
from app.fhir.auth import scopes_for
from app.fhir.subscriptions import (
    DEFAULT_CRITERIA,
    ON_REQUEST_TYPES,
    OPTIONAL_TYPES,
    PayloadContent,
    SubscriptionSpecError,
    build_criteria_subscription,
    build_topic_subscription,
    reactivation,
)

_TYPED = re.compile(r"^([A-Z][A-Za-z]+)=(.+)$")


class ProvisionRolledBack(FatalError):
    """A create failed after others succeeded; those were deleted again (or the message says which not)."""


@dataclass(frozen=True)
class CreatedSubscription:
    id: str
    resource_type: str
    status: str
    criteria: str
    content: str
    plain: bool = False


@dataclass(frozen=True)
class Options:
    """What the operator may set on every Subscription (``subscriptions create`` options)."""

    filters: tuple[str, ...] = ()
    timeout: int | None = None
    max_count: int | None = None
    end: str | None = None


@dataclass(frozen=True)
class _Planned:
    resource_type: str
    body: dict[str, Any]
    secret: str
    content: str


def create_subscriptions(
    engine: Engine,
    gateway: EhrGateway,
    *,
    ehr: str,
    endpoint: str,
    content: PayloadContent,
    plain: bool,
    heartbeat: int | None,
    now: datetime,
    types: Sequence[str] | None = None,
    topics: Sequence[str] = (),
    options: Options = Options(),
) -> list[CreatedSubscription]:
    """Create every requested Subscription on ``ehr`` and register it, or none of them."""
    with read_only(engine) as conn:
        record = ehr_repo.get_ehr(conn, ehr)
    if record is None:
        raise UnknownEhr(f"EHR {ehr!r} is not registered (claimbridge ehrs add --name {ehr} ...)")
    wanted = tuple(dict.fromkeys(types or DEFAULT_CRITERIA))
    unknown = [t for t in wanted if t not in DEFAULT_CRITERIA]
    if unknown:
        raise SubscriptionSpecError(
            f"no subscription for {', '.join(unknown)}; supported: {', '.join(DEFAULT_CRITERIA)}"
        )
    use_plain = plain or record.plain_criteria
    if use_plain and types is None:  # plain criteria: Appointment (eligibility) only when asked for
        wanted = tuple(t for t in wanted if t not in ON_REQUEST_TYPES)
    if not use_plain and types is None:  # by default, charge resources only where the EHR has a topic
        known = {**(record.topics or {}), **{m.group(1): m.group(2) for t in topics if (m := _TYPED.match(t))}}
        wanted = tuple(t for t in wanted if t not in OPTIONAL_TYPES or t in known)
    chosen = {} if use_plain else choose_topics(gateway, record, wanted, topics)
    settings = (endpoint, content, heartbeat, gateway.settings.allow_insecure_endpoints)
    planned = [_plan(t, chosen.get(t), settings, options) for t in wanted]
    gateway.require_scopes(ehr, scopes_for(("Subscription",), access="cu"))
    done: list[CreatedSubscription] = []
    try:
        for item in planned:
            done.append(_create_one(engine, gateway, record, item, heartbeat=None if use_plain else heartbeat, now=now))
    except ClaimbridgeError as exc:
        raise ProvisionRolledBack(f"{exc}; {_roll_back(engine, gateway, ehr, done)}") from exc
    return [CreatedSubscription(**{**c.__dict__, "plain": use_plain}) for c in done]


def choose_topics(
    gateway: EhrGateway, record: EhrRecord, wanted: Sequence[str], named: Sequence[str]
) -> dict[str, str]:
    """The topic for each wanted type: named ones first, then discovered; refuses any type left without."""
    chosen = dict(record.topics or {})
    untyped = []
    for value in named:
        match = _TYPED.match(value)
        if match:
            chosen[match.group(1)] = match.group(2)
        elif value not in (record.topics or {}).values():  # a topic ehrs add did not pick: read its definition
            untyped.append(value)
    if untyped:
        definitions = {t.url: t for t in gateway.call(record.name, discover_topics)}
        for url in untyped:
            if url not in definitions or not definitions[url].resource_types:
                raise SubscriptionSpecError(f"EHR {record.name!r} lists no definition of topic {url}; use TYPE={url}")
            chosen.update(dict.fromkeys(definitions[url].resource_types, url))
    missing = [t for t in wanted if t not in chosen]
    if missing:
        raise SubscriptionSpecError(
            f"EHR {record.name!r} has no topic for {', '.join(missing)}: name one (--topic TYPE=URL), "
            "subscribe fewer types (--type), or use plain R4 criteria (--plain)"
        )
    return chosen


def _plan(
    resource_type: str, topic: str | None, settings: tuple[str, PayloadContent, int | None, bool], options: Options
) -> _Planned:
    endpoint, content, heartbeat, insecure = settings
    secret = secrets.token_urlsafe(32)
    filters = [f for f in options.filters if _filter_type(f) in (None, resource_type)]
    if topic is not None:
        body = build_topic_subscription(
            resource_type=resource_type,
            topic=topic,
            endpoint=endpoint,
            secret=secret,
            filters=filters,
            content=content,
            heartbeat_seconds=heartbeat,
            timeout_seconds=options.timeout,
            max_count=options.max_count,
            end=options.end,
            allow_insecure_endpoint=insecure,
        )
        return _Planned(resource_type, body, secret, content)
    if options.timeout is not None or options.max_count is not None:
        raise SubscriptionSpecError("timeout and max count are backport channel settings: not with plain criteria")
    query = "&".join([DEFAULT_CRITERIA[resource_type].partition("?")[2], *(_plain_filter(f) for f in filters)])
    body = build_criteria_subscription(
        resource_type=resource_type,
        endpoint=endpoint,
        secret=secret,
        criteria=f"{resource_type}?{query}",
        with_payload=content == "full-resource",
        end=options.end,
        allow_insecure_endpoint=insecure,
    )
    return _Planned(resource_type, body, secret, "full-resource" if content == "full-resource" else "empty")


def _filter_type(expression: str) -> str | None:
    name = expression.partition("=")[0]
    for sep in (".", "?"):
        prefix, found, _ = name.partition(sep)
        if found and prefix[:1].isupper():
            return prefix
    return None


def _plain_filter(expression: str) -> str:
    resource_type = _filter_type(expression)
    return expression[len(resource_type) + 1 :] if resource_type else expression


def _create_one(
    engine: Engine, gateway: EhrGateway, record: EhrRecord, item: _Planned, *, heartbeat: int | None, now: datetime
) -> CreatedSubscription:
    created = gateway.call(record.name, partial(_create, body=item.body))
    with engine.begin() as conn:
        subscriptions_repo.add_subscription(
            conn,
            subscription_id=str(created["id"]),
            secret=item.secret,
            ehr=record.name,
            signing_secret=None,
            content=item.content,
            topic=str(item.body["criteria"]),
            heartbeat_period=heartbeat,
            now=now,
            resource_types=(item.resource_type,),
            fresh=True,
            status="active" if created.get("status") == "active" else "requested",  # error/off: reactivated
            keys=gateway.secret_keys,
        )
    result = CreatedSubscription(str(created["id"]), item.resource_type, "", item.body["criteria"], item.content)
    if reactivation(created) is not None:
        try:
            created = gateway.call(record.name, partial(_reactivate, subscription=created))
        except ClaimbridgeError:
            _roll_back(engine, gateway, record.name, [result])
            raise
    return CreatedSubscription(**{**result.__dict__, "status": str(created.get("status"))})


def _roll_back(engine: Engine, gateway: EhrGateway, ehr: str, done: Sequence[CreatedSubscription]) -> str:
    """Delete ``done`` on the EHR and here; the sentence that says what was (not) undone."""
    kept = []
    for sub in done:
        try:
            gateway.call(ehr, partial(_delete, subscription_id=sub.id))
        except ClaimbridgeError as exc:
            kept.append(f"Subscription/{sub.id} ({exc})")
        with engine.begin() as conn:
            key = subscriptions_repo.subscription_key(conn, ehr=ehr, subscription_id=sub.id)
            if key is not None:
                ehr_repo.delete_subscription(conn, key)
    if kept:
        return f"could not delete on the EHR, delete by hand: {', '.join(kept)}"
    if not done:
        return "nothing was created"
    return f"deleted again on the EHR and here: {', '.join(f'Subscription/{s.id}' for s in done)}"


async def _create(connection: EhrConnection, body: dict[str, Any]) -> dict[str, Any]:
    result = await connection.writer.create(body)
    if result.resource is None or not result.resource.get("id"):
        raise SubscriptionSpecError("the EHR did not return the created Subscription")
    return result.resource


async def _delete(connection: EhrConnection, subscription_id: str) -> None:
    await connection.writer.delete("Subscription", subscription_id)


async def _reactivate(connection: EhrConnection, subscription: dict[str, Any]) -> dict[str, Any]:
    body = reactivation(subscription)
    if body is None:
        return subscription
    result = await connection.writer.update(body, if_match_version=None)
    return result.resource or body
