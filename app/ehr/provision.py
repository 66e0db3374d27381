"""``claimbridge subscriptions create``: ask an EHR for our Subscriptions and register them locally.

One Subscription per resource type claimbridge bills from (Encounter, Coverage, ServiceRequest,
MedicationRequest), each with a fresh random secret the EHR replays as ``Authorization: Bearer``:
backport topic-based (the EHR's advertised topics) or plain R4 criteria when the EHR is registered
with ``plain_criteria`` (or has no topics, or ``plain=True``). Plain R4 has no id-only level: with
``full-resource`` the EHR PUTs the resource, otherwise it POSTs an empty ping (a notified pull).

The EHR assigns the id on create and may handshake before we know it; so each one is registered
(``subscriptions add`` semantics, counted from event 1) right after the create and, if the
handshake failed meanwhile (status ``error``), reactivated once: the new handshake then succeeds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine

from app.db import subscriptions_repo
from app.ehr.gateway import EhrConnection, EhrGateway
from app.fhir.subscriptions import (
    DEFAULT_CRITERIA,
    PayloadContent,
    SubscriptionSpecError,
    build_criteria_subscription,
    build_topic_subscription,
    reactivation,
)


@dataclass(frozen=True)
class CreatedSubscription:
    id: str
    resource_type: str
    status: str
    criteria: str
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
) -> list[CreatedSubscription]:
    record = gateway.record(ehr)
    topics = record.topics or {}
    use_plain = plain or record.plain_criteria or not topics
    out = []
    for resource_type in DEFAULT_CRITERIA:
        secret = secrets.token_urlsafe(32)
        if use_plain:
            body = build_criteria_subscription(
                resource_type=resource_type,
                endpoint=endpoint,
                secret=secret,
                with_payload=content == "full-resource",
                allow_insecure_endpoint=gateway.settings.allow_insecure_endpoints,
            )
        else:
            if resource_type not in topics:
                raise SubscriptionSpecError(f"EHR {ehr!r} advertises no topic for {resource_type}; use --plain")
            body = build_topic_subscription(
                resource_type=resource_type,
                topic=topics[resource_type],
                endpoint=endpoint,
                secret=secret,
                content=content,
                heartbeat_seconds=heartbeat,
                allow_insecure_endpoint=gateway.settings.allow_insecure_endpoints,
            )
        created = gateway.call(ehr, partial(_create, body=body))
        effective = content if not use_plain else ("full-resource" if content == "full-resource" else "empty")
        with engine.begin() as conn:
            subscriptions_repo.add_subscription(
                conn,
                subscription_id=str(created["id"]),
                secret=secret,
                ehr=ehr,
                signing_secret=None,
                content=effective,
                topic=str(body["criteria"]),
                heartbeat_period=None if use_plain else heartbeat,
                now=now,
                resource_types=(resource_type,),
                fresh=True,
                status="active" if created.get("status") == "active" else "requested",  # error/off: reactivated
            )
        if reactivation(created) is not None:
            created = gateway.call(ehr, partial(_reactivate, subscription=created))
        out.append(
            CreatedSubscription(
                str(created["id"]), resource_type, str(created.get("status")), body["criteria"], effective
            )
        )
    return out


async def _create(connection: EhrConnection, body: dict[str, Any]) -> dict[str, Any]:
    result = await connection.writer.create(body)
    if result.resource is None or not result.resource.get("id"):
        raise SubscriptionSpecError("the EHR did not return the created Subscription")
    return result.resource


async def _reactivate(connection: EhrConnection, subscription: dict[str, Any]) -> dict[str, Any]:
    body = reactivation(subscription)
    if body is None:
        return subscription
    result = await connection.writer.update(body, if_match_version=None)
    return result.resource or body
