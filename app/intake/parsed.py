"""Notifications parsed already in this process, handed from the eligibility duty's ahead round to
the prefetch of their jobs (:mod:`app.worker.prefetch`). Here, below both, so neither imports the other."""

from __future__ import annotations

import threading

from app.intake.notification import Notification


class ParsedNotes:
    """Notifications parsed already in this process (the eligibility duty's ahead round), by inbox id,
    handed to the prefetch of their job instead of reading and parsing the body again (a stored body
    never changes, so its parse is the same). Each is taken once (a second job of the same row parses
    its own copy); bounded, the oldest dropped; shared by threads. Whoever puts one in no longer reads it."""

    def __init__(self, most: int = 256) -> None:
        self.most = most
        self._notes: dict[int, Notification] = {}
        self._lock = threading.Lock()

    def put(self, inbox_id: int, note: Notification) -> None:
        with self._lock:
            self._notes[inbox_id] = note
            while len(self._notes) > self.most:
                del self._notes[next(iter(self._notes))]

    def take(self, inbox_id: int) -> Notification | None:
        with self._lock:
            return self._notes.pop(inbox_id, None)

    def __len__(self) -> int:
        return len(self._notes)
