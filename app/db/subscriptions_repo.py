"""Subscription registry statements (what `claimbridge subscriptions add|list` do)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, or_, select

from app.credentials import DEVELOPMENT_KEYS, SecretKeys
from app.db.models import Subscription, SubscriptionGap
from app.db.sql import iso
from app.domain.tenancy import ehr_scope
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

    A subscription id is unique per EHR (``ehr``; ``None``, no EHR, is a scope of its own): another
    EHR may use the same id, and gets a row of its own. Every other table names a subscription by
    its internal key (:func:`subscription_key`): the id itself, or ``<id>@<ehr>`` when the id was
    already taken by another EHR's subscription when this one was registered.

    ``resource_types`` are what a notified pull searches (default: every type claimbridge uses);
    ``fresh`` says the subscription was just created on the EHR, so its events are counted from 1.
    A new subscription is ``requested`` (or the ``status`` the EHR answered with) until its handshake
    (or, plain R4, its first notification) says otherwise (:mod:`app.db.intake_repo`).
    The secret is stored as a keyed digest and the signing secret encrypted (:mod:`app.credentials`).
    """
    digest = keys.digest(secret)
    same = (digest, keys.legacy_digest(secret))
    existing = subscription_key(conn, ehr=ehr, subscription_id=subscription_id)
    key = existing or _free_key(conn, ehr=ehr, subscription_id=subscription_id)
    clash = conn.execute(select(SUB.c.id).where(SUB.c.secret_sha256.in_(same), SUB.c.id != key)).first()
    if clash:
        raise SubscriptionConflict("that secret is already used by another subscription; use one secret each")
    values = {
        "secret_sha256": digest,
        "signing_secret": keys.encrypt(signing_secret) if signing_secret else None,
        "content": content,
        "topic": topic,
        "heartbeat_period_seconds": heartbeat_period,
        "resource_types": ",".join(resource_types) or None,
    }
    if existing:
        conn.execute(SUB.update().where(SUB.c.id == key).values(**values))
        return False
    conn.execute(
        SUB.insert().values(
            id=key,
            fhir_id=subscription_id,
            ehr=ehr,
            status=status,
            health="ok",
            events_since_start=0,
            events_checked=0 if fresh else None,
            created_at=now,
            **values,
        )
    )
    return True


def subscription_key(conn: Connection, *, ehr: str | None, subscription_id: str) -> str | None:
    """The internal key of the EHR ``ehr``'s subscription ``subscription_id``, if registered."""
    same_ehr = SUB.c.ehr.is_(None) if ehr is None else SUB.c.ehr == ehr
    row = conn.execute(select(SUB.c.id).where(SUB.c.fhir_id == subscription_id, same_ehr)).first()
    return str(row.id) if row else None


def _free_key(conn: Connection, *, ehr: str | None, subscription_id: str) -> str:
    """The id itself if no subscription has it as its key, else ``<id>@<ehr scope>``."""
    for key in (subscription_id, f"{subscription_id}@{ehr_scope(ehr)}"):
        if len(key) <= 200 and conn.execute(select(SUB.c.id).where(SUB.c.id == key)).first() is None:
            return key
    raise SubscriptionConflict(
        f"subscription id {subscription_id!r} cannot be stored for {f'EHR {ehr!r}' if ehr else 'no EHR'}: "
        "its internal key is taken (or too long); register it under another id"
    )


def upgrade_credentials(conn: Connection, subscription_id: str, *, digest: str, signing_secret: str | None) -> None:
    """Rewrite a subscription's legacy credentials (plain SHA-256, plaintext signing secret) in the keyed form."""
    conn.execute(
        SUB.update().where(SUB.c.id == subscription_id).values(secret_sha256=digest, signing_secret=signing_secret)
    )


@dataclass(frozen=True)
class SubscriptionName:
    """How the operator knows a subscription: its id on its EHR and the EHR's name (``None``: no EHR)."""

    id: str
    ehr: str | None


def subscription_names(conn: Connection) -> dict[str, SubscriptionName]:
    """Every subscription's name, by internal key (the value other tables' ``subscription_id`` holds)."""
    rows = conn.execute(select(SUB.c.id, SUB.c.fhir_id, SUB.c.ehr))
    return {str(r.id): SubscriptionName(str(r.fhir_id), r.ehr) for r in rows}


def named(rows: Iterable[dict[str, Any]], names: Mapping[str, SubscriptionName]) -> list[dict[str, Any]]:
    """``rows`` as the operator reads them: ``subscription_id`` is the id on the EHR, ``ehr`` the
    EHR's name (the internal key stays internal). A key no subscription has any more (deleted)
    keeps the row's own ``ehr``, and loses its ``@<ehr>`` suffix when it has that one."""
    out = []
    for row in rows:
        key = row.get("subscription_id")
        name = names.get(key) if isinstance(key, str) else None
        if name is not None:
            out.append({**row, "subscription_id": name.id, "ehr": name.ehr})
        elif isinstance(key, str) and isinstance(row.get("ehr"), str) and key.endswith(f"@{row['ehr']}"):
            out.append({**row, "subscription_id": key[: -len(row["ehr"]) - 1]})
        else:
            out.append(row)
    return out


def keys_named(subscription: str | None, ehr: str | None = None) -> Select[Any]:
    """The internal keys of the subscriptions the operator means by ``subscription`` (an id on an
    EHR; an internal key is taken too) and ``ehr`` (an EHR's name); either may be ``None`` (any)."""
    stmt = select(SUB.c.id)
    if subscription is not None:
        stmt = stmt.where(or_(SUB.c.fhir_id == subscription, SUB.c.id == subscription))
    return stmt if ehr is None else stmt.where(SUB.c.ehr == ehr)


def of_subscription(column: Any, subscription: str | None, ehr: str | None) -> Any:
    """The condition on ``column`` (a ``subscription_id``: internal keys) for rows of the
    subscriptions ``subscription`` and ``ehr`` name (:func:`keys_named`); without an EHR a key no
    subscription has any more (deleted) is matched as it is stored too."""
    keys = column.in_(keys_named(subscription, ehr))
    return keys if ehr is not None or subscription is None else or_(keys, column == subscription)


def matching_keys(conn: Connection, subscription: str | None, ehr: str | None) -> frozenset[str] | None:
    """:func:`of_subscription` for rows filtered in Python: the keys they may have (None: any)."""
    if subscription is None and ehr is None:
        return None
    keys = frozenset(str(k) for k in conn.execute(keys_named(subscription, ehr)).scalars())
    return keys | {subscription} if ehr is None and subscription is not None else keys


def list_subscriptions(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(SUB).order_by(SUB.c.fhir_id, SUB.c.ehr)).all()
    counts = select(GAP.c.subscription_id, GAP.c.status, func.count()).where(GAP.c.status.in_(("open", "failed")))
    gaps: dict[tuple[str, str], int] = {
        (sid, status): int(n) for sid, status, n in conn.execute(counts.group_by(GAP.c.subscription_id, GAP.c.status))
    }
    return [
        {
            "id": r.fhir_id,
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
