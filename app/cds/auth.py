"""Authenticating CDS clients: the CDS Hooks JWT (``Authorization: Bearer``), checked with joserfc.

Checks, each a 401 with a message naming what failed (never the token or a claim value):

- header: ``alg`` an asymmetric JWS algorithm (``none`` and HMAC refused), ``typ`` = ``JWT``, ``kid``;
- ``iss`` a registered client (``claimbridge cds-clients add``); its keys are the registered JWKS,
  or those at its registered ``jwks_url``; a ``jku`` header is followed only when that URL is on the
  client's allowlist (the registered ``jwks_url`` always is);
- signature by the key ``kid`` names (a JWKS fetched by URL is re-read once for an unknown ``kid``);
- ``aud`` (string or list) holds the exact URL of the endpoint being invoked;
- ``exp`` not past and ``iat`` not in the future, with ``skew`` seconds of leeway; ``jti`` present
  and never seen before from this issuer (stored in ``cds_jti`` until the token expires).

The ``jti`` is durable before the call is answered (a replay after a restart still fails), and
concurrent calls share that write: :class:`JtiLedger` commits every id waiting while the previous
transaction ran in one transaction (group commit). One transaction at a time also keeps SQLite
writers from polling each other's write lock with ``busy_timeout``'s growing sleeps, the cause of the
hook's latency tail under load (bench/README.md).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import Engine

from app.db import cds_repo
from app.db.cds_repo import ClientRecord
from app.errors import FatalError

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
CLIENT_CACHE_SECONDS = 5.0
JWKS_CACHE_SECONDS = 300.0


class CdsAuthError(FatalError, PermissionError):
    """A CDS Hooks call whose JWT is missing or does not verify (HTTP 401)."""


JwksFetcher = Callable[[str], dict[str, Any]]


@dataclass
class _Cached:
    value: Any
    at: float


@dataclass(eq=False)
class _Jti:
    iss: str
    jti: str
    expires_at: datetime
    fresh: bool | None = None
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.fresh is not None or self.error is not None


class JtiLedger:
    """The JWT ids seen, written with group commit: one transaction for all the ids waiting for one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cond = threading.Condition()
        self._pending: list[_Jti] = []
        self._writing = False

    def state(self) -> tuple[bool, int]:
        """(a transaction is running, ids waiting for the next one)."""
        with self._cond:
            return self._writing, len(self._pending)

    def remember(self, *, iss: str, jti: str, expires_at: datetime) -> bool:
        """True when ``jti`` is new for ``iss`` (and now stored), False for a replay."""
        item = _Jti(iss, jti, expires_at)
        batch: list[_Jti] = []
        with self._cond:
            self._pending.append(item)
            while not item.done and self._writing:
                self._cond.wait()
            if not item.done:  # no transaction running: this caller writes everything waiting
                self._writing, batch, self._pending = True, self._pending, []
        if batch:
            self._write(batch)
        if item.error is not None:
            raise item.error
        return bool(item.fresh)

    def _write(self, batch: list[_Jti]) -> None:
        try:
            with self.engine.begin() as conn:
                results = [
                    cds_repo.remember_jti(conn, iss=b.iss, jti=b.jti, expires_at=b.expires_at) for b in batch
                ]  # a duplicate within the batch conflicts with the first: a replay, as across batches
        except BaseException as exc:
            for b in batch:
                b.error = exc
        else:
            for b, fresh in zip(batch, results, strict=True):
                b.fresh = fresh
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class CdsAuthenticator:
    """Verifies CDS Hooks JWTs against registered clients; thread-safe (the API runs it in a pool)."""

    def __init__(self, *, engine: Engine, fetch_jwks: JwksFetcher, clock: Callable[[], datetime],
                 skew: float = 60.0, max_lifetime: float = 3600.0) -> None:  # fmt: skip
        self.engine, self.fetch_jwks, self.clock = engine, fetch_jwks, clock
        self.skew, self.max_lifetime = skew, max_lifetime
        self._clients: dict[str, _Cached] = {}
        self._jwks: dict[str, _Cached] = {}
        self._static: dict[str, tuple[ClientRecord, KeySet]] = {}
        self._lock = threading.Lock()
        self.jtis = JtiLedger(engine)

    def verify(self, token: str | None, *, audience: str) -> str:
        """The issuer of a valid token for ``audience``; raises :class:`CdsAuthError`."""
        if not token:
            raise CdsAuthError("a CDS Hooks JWT is required (Authorization: Bearer)")
        header, claims = _unverified(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ASYMMETRIC:
            raise CdsAuthError("JWT alg must be an asymmetric algorithm (none and HMAC are refused)")
        if header.get("typ") != "JWT" or not isinstance(kid, str) or not kid:
            raise CdsAuthError("JWT header needs typ JWT and a kid")
        iss = claims.get("iss")
        client = self._client(iss) if isinstance(iss, str) else None
        if client is None:
            raise CdsAuthError("JWT iss is not a registered CDS client")
        verified = self._signature(token, header, client, str(alg), kid)
        self._check_claims(verified, audience=audience)
        return client.iss

    def _check_claims(self, claims: dict[str, Any], *, audience: str) -> None:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if audience not in auds:
            raise CdsAuthError(f"JWT aud must be this endpoint's URL ({audience})")
        now = self.clock().timestamp()
        exp, iat, jti = claims.get("exp"), claims.get("iat"), claims.get("jti")
        if not isinstance(exp, int | float) or exp + self.skew < now:
            raise CdsAuthError("JWT exp is missing or past")
        if not isinstance(iat, int | float) or iat - self.skew > now or exp - iat > self.max_lifetime:
            raise CdsAuthError("JWT iat is missing, in the future, or too long before exp")
        if not isinstance(jti, str) or not jti or len(jti) > 200:
            raise CdsAuthError("JWT jti is required")
        expires = datetime.fromtimestamp(exp + self.skew, UTC)
        if not self.jtis.remember(iss=str(claims["iss"]), jti=jti, expires_at=expires):
            raise CdsAuthError("JWT jti was already used")

    def _signature(
        self, token: str, header: dict[str, Any], client: ClientRecord, alg: str, kid: str
    ) -> dict[str, Any]:
        jku = header.get("jku")
        if jku is not None and jku != client.jwks_url and jku not in client.jku_allowlist:
            raise CdsAuthError("JWT jku is not on the client's allowlist")
        url = jku or client.jwks_url
        for refresh in (False, True):
            keys = self._keys(client, url, refresh=refresh)
            try:
                key = keys.get_by_kid(kid)
            except JoseError:
                if url is None or refresh:
                    raise CdsAuthError("JWT kid is not in the client's JWKS") from None
                continue
            try:
                return dict(jwt.decode(token, key, algorithms=[alg]).claims)
            except (JoseError, ValueError):
                raise CdsAuthError("JWT signature does not verify") from None
        raise CdsAuthError("JWT kid is not in the client's JWKS")  # pragma: no cover - loop returns or raises

    def _keys(self, client: ClientRecord, url: str | None, *, refresh: bool) -> KeySet:
        if url is None:
            with self._lock:
                static = self._static.get(client.iss)
            if static is not None and static[0] is client:  # same record as cached: keys already imported
                return static[1]
            try:
                keys = KeySet.import_key_set(client.jwks or {"keys": []})  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError):
                raise CdsAuthError("the client's registered JWKS cannot be read") from None
            with self._lock:
                self._static[client.iss] = (client, keys)
            return keys
        with self._lock:
            cached = self._jwks.get(url)
        if cached is None or refresh or time.monotonic() - cached.at > JWKS_CACHE_SECONDS:
            try:
                keys = KeySet.import_key_set(self.fetch_jwks(url))  # type: ignore[arg-type]
            except Exception:
                raise CdsAuthError("the client's JWKS could not be fetched") from None
            cached = _Cached(keys, time.monotonic())
            with self._lock:
                self._jwks[url] = cached
        return cached.value  # type: ignore[no-any-return]

    def _client(self, iss: str) -> ClientRecord | None:
        with self._lock:
            cached = self._clients.get(iss)
        if cached is not None and time.monotonic() - cached.at < CLIENT_CACHE_SECONDS:
            return cached.value  # type: ignore[no-any-return]
        with self.engine.connect() as conn:
            record = cds_repo.get_client(conn, iss)
        with self._lock:
            self._clients[iss] = _Cached(record, time.monotonic())
        return record

    def prune(self) -> int:
        """Forget the ids of tokens expired for more than the leeway."""
        with self.engine.begin() as conn:
            return cds_repo.forget_expired(conn, before=self.clock() - timedelta(seconds=self.skew))


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        compact = jws.extract_compact(token.encode())
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError):
        raise CdsAuthError("the bearer token is not a compact JWS") from None
    if not isinstance(claims, dict):
        raise CdsAuthError("the JWT payload is not a JSON object")
    return dict(compact.headers()), claims
