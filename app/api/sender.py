"""The subscription a notification's bearer secret belongs to (keyed digest; legacy rows upgraded).

Called by intake on a sender-cache miss, on a worker thread. The secret's keyed digest is looked up
first; a row still holding the unsalted SHA-256 of earlier releases is found by that digest and
rewritten in place (keyed digest, encrypted signing secret), so the upgrade needs no secret from
the operator. The returned subscription carries the signing secret in plaintext, for memory only.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine

from app.credentials import SecretKeys
from app.db import intake_repo, subscriptions_repo
from app.db.engine import read_only
from app.db.intake_repo import SenderSubscription


def find_sender(engine: Engine, keys: SecretKeys, token: str) -> SenderSubscription | None:
    digest = keys.digest(token)
    with read_only(engine) as conn:
        sub = intake_repo.find_subscription_by_digest(conn, digest)
        if sub is None:
            sub = intake_repo.find_subscription_by_digest(conn, keys.legacy_digest(token))
            legacy = sub is not None
        else:
            legacy = not keys.is_encrypted(sub.signing_secret)
    if sub is None:
        return None
    plain = keys.decrypt(sub.signing_secret) if sub.signing_secret else None
    if legacy:
        with engine.begin() as conn:
            subscriptions_repo.upgrade_credentials(
                conn, sub.id, digest=digest, signing_secret=keys.encrypt(plain) if plain else None
            )
    return replace(sub, signing_secret=plain)
