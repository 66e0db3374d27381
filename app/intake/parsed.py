"""Notifications parsed already in this process, handed from the eligibility duty's ahead round to
the prefetch of their jobs (:mod:`app.worker.prefetch`). Here, below both, so neither imports the other."""

from __future__ import annotations

from app.bounded import Bounded
from app.intake.notification import Notification


class ParsedNotes(Bounded[int, Notification]):
    """Notifications parsed already in this process (the eligibility duty's ahead round), by inbox id,
    handed to the prefetch of their job instead of reading and parsing the body again (a stored body
    never changes, so its parse is the same). Each is taken once (a second job of the same row parses
    its own copy); bounded, the oldest dropped; shared by threads. Whoever puts one in no longer reads it."""

    def __init__(self, most: int = 256) -> None:
        super().__init__(most)

    def put(self, inbox_id: int, note: Notification) -> None:
        self.put_all([(inbox_id, note)])
