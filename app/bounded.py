"""A small map shared by threads that holds at most a given number of entries, the oldest dropped.

Used for what one part of a process hands to another and may be forgotten without harm (the
eligibility duty's ahead round to the jobs: :class:`app.eligibility.triggers.Requested`,
:class:`app.intake.parsed.ParsedNotes`): a missing entry only means the work is done again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """At most ``most`` entries, in insertion order; the oldest dropped first. Thread-safe."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._items: dict[K, V] = {}
        self._lock = threading.Lock()

    def put_all(self, items: Iterable[tuple[K, V]]) -> None:
        with self._lock:
            self._items.update(items)
            while len(self._items) > self.most:
                del self._items[next(iter(self._items))]

    def take(self, key: K) -> V | None:
        """The entry of ``key``, removed (None: there is none)."""
        with self._lock:
            return self._items.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
