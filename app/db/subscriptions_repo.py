"""Subscription registry statements (what `claimbridge subscriptions add|list` do)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from app.credentials import DEVELOPMENT_KEYS, SecretKeys
from app.db.models import Subscription, SubscriptionGap
from app.db.sql import iso
from app.errors import FatalError

SUB = Subscription.__table__  # type: ignore[attr-defined]
GAP = SubscriptionGap.__table__  # type: ignore[attr-defined]


class SubscriptionConflict(FatalError, ValueError):
    pass


def add_subscription(
    conn: Connection,
    *,
    subscription_id: str,
    secret: str,
    ehr: str | None,
    signing_secret: str | None,
    content: str | None,
    topic: str | None,
    heartbeat_period: int | None,
    now: datetime,
    resource_types: tuple[str, ...] = (),
    fresh: bool = False,
    status: str = "requested",
    keys: SecretKeys = DEVELOPMENT_KEYS,
) -> bool:
    """Register (or update the secret of) an inbound subscription. Returns True if it was new.

    Subscription ids are global: an id already registered for another EHR (or for none, when
    ``ehr`` is given, and the reverse) is refused with :class:`SubscriptionConflict`.

    ``resource_types`` are what a notified pull searches (default: every type claimbridge uses);
    ``fresh`` says the subscription was just created on the EHR, so its events are counted from 1.
    A new subscription is ``requested`` (or the ``status`` the EHR answered with) until its handshake
    (or, plain R4, its first notification) says otherwise (:mod:`app.db.intake_repo`).
    The secret is stored as a keyed digest and the signing secret encrypted (:mod:`app.credentials`).
    """
    digest = keys.digest(secret)
    same = (digest, keys.legacy_digest(secret))
    clash = conn.execute(select(SUB.c.id).where(SUB.c.secret_sha256.in_(same), SUB.c.id != subscription_id)).first()
    if clash:
        raise SubscriptionConflict("that secret is already used by another subscription; use one secret each")
    values = {
        "secret_sha256": digest,
        "ehr": ehr,
        "signing_secret": keys.encrypt(signing_secret) if signing_secret else None,
        "content": content,
        "topic": topic,
        "heartbeat_period_seconds": heartbeat_period,
        "resource_types": ",".join(resource_types) or None,
    }
    exists = conn.execute(select(SUB.c.id, SUB.c.ehr).where(SUB.c.id == subscription_id)).first()
    if exists and exists.ehr != ehr:  # ids are global: re-pointing would hand A's row (and history) to B
        owner = f"EHR {exists.ehr!r}" if exists.ehr else "no EHR"
        raise SubscriptionConflict(
            f"subscription id {subscription_id!r} is already registered for {owner}; subscription ids are "
            "global, so another EHR's subscription needs another id"
        )
    if exists:
        conn.execute(SUB.update().where(SUB.c.id == subscription_id).values(**values))
        return False
    conn.execute(
        SUB.insert().values(
            id=subscription_id,
            status=status,
            health="ok",
            events_since_start=0,
            events_checked=0 if fresh else None,
            created_at=now,
            **values,
        )
    )
    return True


def upgrade_credentials(conn: Connection, subscription_id: str, *, digest: str, signing_secret: str | None) -> None:
    """Rewrite a subscription's legacy credentials (plain SHA-256, plaintext signing secret) in the keyed form."""
    conn.execute(
        SUB.update().where(SUB.c.id == subscription_id).values(secret_sha256=digest, signing_secret=signing_secret)
    )


def list_subscriptions(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(SUB).order_by(SUB.c.id)).all()
    counts = select(GAP.c.subscription_id, GAP.c.status, func.count()).where(GAP.c.status.in_(("open", "failed")))
    gaps: dict[tuple[str, str], int] = {
        (sid, status): int(n) for sid, status, n in conn.execute(counts.group_by(GAP.c.subscription_id, GAP.c.status))
    }
    return [
        {
            "id": r.id,
            "ehr": r.ehr,
            "status": r.status,
            "health": r.health,
            "content": r.content,
            "topic": r.topic,
            "last_event_number": r.events_since_start,
            "heartbeat_period": r.heartbeat_period_seconds,
            "last_event_at": iso(r.last_event_at),
            "last_heartbeat_at": iso(r.last_heartbeat_at),
            "last_checked_at": iso(r.last_checked_at),
            "events_checked": r.events_checked,
            "open_gaps": gaps.get((r.id, "open"), 0),
            "failed_gaps": gaps.get((r.id, "failed"), 0),  # recovery stopped: see ehr.recovery_max_attempts
            "degraded": r.health != "ok",
            "resource_types": r.resource_types,
            "signed": bool(r.signing_secret),
        }
        for r in rows
    ]


def names_ehr(conn: Connection, ehr: str) -> bool:
    """True when some subscription is linked to the EHR ``ehr`` (its data is stored under that name)."""
    return conn.execute(select(SUB.c.id).where(SUB.c.ehr == ehr).limit(1)).first() is not None
