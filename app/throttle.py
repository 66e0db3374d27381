"""Throttling of wrong credentials per key (a client address, an account name), shared by every process.

A key that presented ``limit`` wrong credentials within ``window`` seconds must wait until its
window ends (:meth:`SharedThrottle.retry_after`), even with a right credential: guessing costs the
attacker the window, not a request. The counters are rows of the database every API process uses
(:mod:`app.db.throttle_repo`), so two processes give no more attempts than one; a key is stored as
a keyed digest (a name typed into the sign-in form may be a password). At most ``max_keys`` keys
per scope are kept: ended windows are dropped, then the oldest.

The check stays off the database for callers that never fail: a key whose row was absent is
remembered as clean for ``cache_seconds`` (and a blocked key until its window ends), in a bounded
LRU. So another process's block is seen within ``cache_seconds`` by a process that had just found
the key clean: at most one more guess there. A key with failures is read every time. Used by the
API (:mod:`app.api.throttle`: admin tokens, subscription secrets) and the console sign-in
(:mod:`app.web.console`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from app.credentials import SecretKeys
from app.db import throttle_repo
from app.db.engine import read_only
from app.settings import SecuritySettings


@dataclass
class SharedThrottle:
    engine: Engine
    scope: str
    limit: int
    window: float
    max_keys: int
    digest: Callable[[str], str]
    clock: Callable[[], float]  # wall-clock seconds: the processes compare windows
    cache_seconds: float = 1.0
    _known: OrderedDict[str, tuple[float, bool]] = field(default_factory=OrderedDict)  # key → (until, blocked)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def configured(
        cls,
        engine: Engine,
        security: SecuritySettings,
        clock: Callable[[], datetime],
        *,
        scope: str,
        limit: int,
        window: float,
    ) -> SharedThrottle:
        """A throttle of the service: keys digested under ``security.secret_key``, at most
        ``security.throttle_max_clients`` of them, ``security.throttle_cache_seconds``, wall-clock windows."""
        return cls(
            engine=engine,
            scope=scope,
            limit=limit,
            window=window,
            max_keys=security.throttle_max_clients,
            digest=SecretKeys(security.secret_key.get_secret_value()).digest,
            clock=lambda: clock().timestamp(),
            cache_seconds=security.throttle_cache_seconds,
        )

    def peek(self, key: str) -> tuple[bool, float | None]:
        """From memory only: ``(known, seconds to wait or None)``; unknown means ask :meth:`retry_after`."""
        now = self.clock()
        with self._lock:
            entry = self._known.get(key)
            if entry is None or entry[0] <= now:
                self._known.pop(key, None)
                return False, None
            self._known.move_to_end(key)
            until, blocked = entry
        return True, (until - now if blocked else None)

    def retry_after(self, key: str) -> float | None:
        """Seconds the key must wait, or None when it may try (reads the database unless known)."""
        known, wait = self.peek(key)
        if known:
            return wait
        now = self.clock()
        with read_only(self.engine) as conn:
            found = throttle_repo.state(conn, self.scope, self.digest(key))
        if found is None:
            self._remember(key, now + self.cache_seconds, blocked=False)
            return None
        failures, ends = found
        if ends <= now or failures < self.limit:
            return None
        self._remember(key, ends, blocked=True)
        return ends - now

    def failed(self, key: str) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            failures, ends = throttle_repo.record_failure(
                conn, scope=self.scope, key=self.digest(key), now=now, window=self.window
            )
            throttle_repo.trim(conn, self.scope, now=now, keep=self.max_keys)
        if failures >= self.limit:
            self._remember(key, ends, blocked=True)
        else:
            with self._lock:
                self._known.pop(key, None)  # a key with failures is read every time

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures (a right credential outside the penalty window)."""
        with self.engine.begin() as conn:
            throttle_repo.forget(conn, self.scope, self.digest(key))
        with self._lock:
            self._known.pop(key, None)

    def _remember(self, key: str, until: float, *, blocked: bool) -> None:
        if not blocked and self.cache_seconds <= 0:
            return
        with self._lock:
            self._known[key] = (until, blocked)
            self._known.move_to_end(key)
            while len(self._known) > self.max_keys:
                self._known.popitem(last=False)
