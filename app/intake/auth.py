"""Sender authentication for notifications, pure.

Each subscription has a shared secret that the EHR replays from ``Subscription.channel.header`` as
``Authorization: Bearer <secret>``; only a keyed digest of it is stored (:mod:`app.credentials`;
:func:`secret_digest` is the unkeyed form of earlier releases), and lookups go by that digest.
A subscription may also require an HMAC-SHA256 signature of the raw body (hex, header
``X-Signature``, the Medplum convention), checked in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "x-signature"


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def sign_body(body: bytes, signing_secret: str) -> str:
    return hmac.new(signing_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, signing_secret: str, signature: str | None) -> bool:
    if not signature:
        return False
    expected = sign_body(body, signing_secret)
    return hmac.compare_digest(expected, signature.strip().lower())
