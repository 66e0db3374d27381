"""Credentials at rest: keyed digests of subscription secrets, encrypted signing secrets, strength checks.

One configured master key (``security.secret_key``) yields two sub-keys (HMAC-SHA256 with a label):

- the **digest key**: a subscription secret is stored as HMAC-SHA256(digest key, secret), hex. A
  keyed hash, not a password KDF: the secrets are random tokens of 20+ characters (a KDF protects
  guessable passwords) and intake must find the subscription by its digest with one indexed query.
  A stolen table without the key cannot be checked against guesses offline.
- the **encryption key**: an HMAC signing secret (which must be read back to verify ``X-Signature``)
  and a SMART app's client secret (sent to the EHR's token endpoint) are stored Fernet-encrypted
  (AES-128-CBC + HMAC-SHA256) as ``fernet:<token>``.

Rows written before this scheme hold an unsalted SHA-256 digest and a plaintext signing secret; they
are still accepted (:meth:`SecretKeys.legacy_digest`, :meth:`SecretKeys.decrypt` of a value without
the prefix) and rewritten in the new form the first time the subscription authenticates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken

from app.errors import FatalError
from app.settings import DEV_SECRET_KEY

ENCRYPTED_PREFIX = "fernet:"


class CredentialError(FatalError):
    """A stored credential cannot be read with the configured key (the key changed?)."""


def _subkey(master: str, label: str) -> bytes:
    return hmac.new(master.encode(), f"claimbridge/{label}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class SecretKeys:
    master: str = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_digest_key", _subkey(self.master, "subscription-secret-digest"))
        fernet_key = base64.urlsafe_b64encode(_subkey(self.master, "signing-secret-encryption"))
        object.__setattr__(self, "_fernet", Fernet(fernet_key))

    def digest(self, secret: str) -> str:
        """The stored form of a subscription secret (64 hex characters, like the column)."""
        key: bytes = self.__dict__["_digest_key"]
        return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def legacy_digest(secret: str) -> str:
        """The unsalted SHA-256 rows written before keyed digests hold (read, then upgraded)."""
        return hashlib.sha256(secret.encode()).hexdigest()

    def encrypt(self, plaintext: str) -> str:
        fernet: Fernet = self.__dict__["_fernet"]
        return ENCRYPTED_PREFIX + fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The plaintext of :meth:`encrypt`'s output; a legacy plaintext value is returned as it is."""
        if not stored.startswith(ENCRYPTED_PREFIX):
            return stored
        fernet: Fernet = self.__dict__["_fernet"]
        try:
            return fernet.decrypt(stored[len(ENCRYPTED_PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise CredentialError("a stored signing secret cannot be decrypted with security.secret_key") from exc

    @staticmethod
    def is_encrypted(stored: str | None) -> bool:
        return stored is None or stored.startswith(ENCRYPTED_PREFIX)


def secret_problem(secret: str, *, min_length: int) -> str | None:
    """Why a secret is too weak to register (None when it is acceptable).

    Length and variety, not a dictionary: ``min_length`` characters of which at least 8 differ, and
    not one character class repeated (``aaaaaaaa...``, ``12345678901234567890``).
    """
    if len(secret) < min_length:
        return f"is {len(secret)} characters; at least {min_length} are required"
    if len(set(secret)) < 8:
        return "has fewer than 8 distinct characters"
    if secret.isdigit():
        return "is digits only"
    if any(c.isspace() or not c.isprintable() for c in secret):
        return "contains whitespace or control characters"
    return None


#: The keys of development and test settings (the ``security.secret_key`` default); services pass theirs.
DEVELOPMENT_KEYS = SecretKeys(DEV_SECRET_KEY)
