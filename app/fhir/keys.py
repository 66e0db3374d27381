"""Signing keys for SMART Backend Services: generate, publish (JWKS) and load.

``generate_keys`` writes a private key (PEM, mode 0600) and the public JWKS an operator registers
with the EHR. ``load_signing_key`` reads either form back (a PEM file, or a JWKS file holding a
private key) as a :class:`SigningKey`; ``public_keys_in`` reads the public half of any key file
(private PEM, private or public JWKS) for the JWKS claimbridge publishes. The ``kid`` is the
RFC 7638 JWK thumbprint, so the same key always has the same id. Supported algorithms are the two
SMART requires: RS384 and ES384.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from app.errors import FatalError

Algorithm = Literal["RS384", "ES384"]
ALGORITHMS: tuple[Algorithm, ...] = ("RS384", "ES384")
RSA_KEY_BITS = 3072


class KeyFileError(FatalError, ValueError):
    """A key file that cannot be used for signing client assertions."""


@dataclass(frozen=True)
class SigningKey:
    """A private key with its JOSE algorithm and key id."""

    key: RSAKey | ECKey
    alg: Algorithm
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK to register with the EHR."""
        jwk = dict(self.key.as_dict(private=False))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk


def generate_signing_key(alg: Algorithm) -> SigningKey:
    """A fresh private key for ``alg`` (RSA 3072 for RS384, P-384 for ES384)."""
    if alg == "RS384":
        key: RSAKey | ECKey = RSAKey.generate_key(RSA_KEY_BITS, private=True)
    elif alg == "ES384":
        key = ECKey.generate_key("P-384", private=True)
    else:
        raise KeyFileError(f"unsupported algorithm {alg!r}; use one of {ALGORITHMS}")
    return SigningKey(key=key, alg=alg, kid=key.thumbprint())


def generate_keys(out_dir: Path, alg: Algorithm) -> tuple[Path, Path]:
    """Write ``private-key-<alg>.pem`` (0600) and ``jwks-<alg>.json`` (public) into ``out_dir``."""
    signing = generate_signing_key(alg)
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path = out_dir / f"private-key-{alg.lower()}.pem"
    jwks_path = out_dir / f"jwks-{alg.lower()}.json"
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(signing.key.as_pem(private=True))
    os.chmod(private_path, 0o600)
    jwks_path.write_text(json.dumps({"keys": [signing.public_jwk()]}, indent=2) + "\n", encoding="utf-8")
    return private_path, jwks_path


def public_jwks(*keys: SigningKey) -> dict[str, Any]:
    """A JWKS document publishing the public halves of ``keys``."""
    return {"keys": [key.public_jwk() for key in keys]}


def public_keys_in(path: Path) -> list[dict[str, Any]]:
    """The public JWKs of a key file: a private PEM, or a JWKS (private parts are never returned)."""
    data = path.read_bytes()
    if path.suffix.lower() != ".json":
        return [_from_pem(data, where=str(path)).public_jwk()]
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("no 'keys' list")
        keyset = KeySet.import_key_set({"keys": document["keys"]})
    except (ValueError, TypeError, KeyError, JoseError) as exc:
        raise KeyFileError(f"{path}: not a JWKS document ({type(exc).__name__})") from exc
    out = []
    for jwk, key in zip(document["keys"], keyset.keys, strict=True):
        public = dict(key.as_dict(private=False))
        public.update({k: jwk[k] for k in ("kid", "alg", "use") if k in jwk})
        public.setdefault("kid", key.thumbprint())
        out.append(public)
    return out


def load_signing_key(path: Path, *, kid: str | None = None) -> SigningKey:
    """Load a private key from a PEM file or a private JWKS (``.json``); pick ``kid`` if several."""
    data = path.read_bytes()
    if path.suffix.lower() == ".json":
        return _from_jwks(json.loads(data), kid=kid, where=str(path))
    return _from_pem(data, where=str(path))


def _from_pem(data: bytes, *, where: str) -> SigningKey:
    for cls in (RSAKey, ECKey):
        try:
            key = cls.import_key(data)
        except (ValueError, TypeError, JoseError):
            continue
        return _checked(key, where=where)
    raise KeyFileError(f"{where}: not an RSA or EC private key in PEM form")


def _from_jwks(document: Any, *, kid: str | None, where: str) -> SigningKey:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyFileError(f"{where}: not a JWKS document (no 'keys' list)")
    candidates = [jwk for jwk in document["keys"] if "d" in jwk and (kid is None or jwk.get("kid") == kid)]
    if len(candidates) != 1:
        raise KeyFileError(f"{where}: expected exactly one private key (kid={kid!r}), found {len(candidates)}")
    keyset = KeySet.import_key_set({"keys": candidates})
    key = keyset.keys[0]
    if not isinstance(key, RSAKey | ECKey):
        raise KeyFileError(f"{where}: key type {key.key_type} cannot sign RS384/ES384")
    signing = _checked(key, where=where)
    stated = candidates[0].get("kid")
    return SigningKey(key=signing.key, alg=signing.alg, kid=stated or signing.kid)


def _checked(key: RSAKey | ECKey, *, where: str) -> SigningKey:
    if not key.is_private:
        raise KeyFileError(f"{where}: holds a public key; a private key is needed to sign")
    if isinstance(key, RSAKey):
        return SigningKey(key=key, alg="RS384", kid=key.thumbprint())
    if key.curve_name != "P-384":
        raise KeyFileError(f"{where}: EC curve {key.curve_name} does not fit ES384 (needs P-384)")
    return SigningKey(key=key, alg="ES384", kid=key.thumbprint())
