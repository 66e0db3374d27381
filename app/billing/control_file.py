"""Interchange control numbers persisted in a small state file (the one I/O module of this package).

:class:`FileControlNumbers` is a drop-in for :class:`app.x12.SequentialControlNumbers`: each call
locks the file, reads the last ISA13 used (one integer; a missing or empty file means none yet),
writes the next one back atomically and returns it. Successive runs, and concurrent ones on the same
machine, therefore get unique, increasing numbers. Numbers are consumed when the writer asks for one,
so a run that fails afterwards leaves a gap, never a reuse. This file serves the offline
``claimbridge x12 build``; the service's submitter uses the database sequence
(:func:`app.db.billing_repo.next_control_number`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from app.errors import FatalError
from app.x12.envelope import MAX_CONTROL_NUMBER


class ControlNumberError(FatalError, RuntimeError):
    """The state file cannot be read or written, holds garbage, or the numbers ran out."""


class FileControlNumbers:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.issued: list[int] = []

    def __call__(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                value = self._last() + 1
                if value > MAX_CONTROL_NUMBER:
                    raise ControlNumberError(f"{self.path}: interchange control numbers exhausted")
                self._store(value)
        except OSError as exc:
            raise ControlNumberError(f"{self.path}: {exc.strerror or exc}") from exc
        self.issued.append(value)
        return value

    def last(self) -> int:
        """The last number issued so far (0 when none)."""
        try:
            return self._last()
        except OSError as exc:
            raise ControlNumberError(f"{self.path}: {exc.strerror or exc}") from exc

    def _last(self) -> int:
        if not self.path.exists():
            return 0
        raw = self.path.read_text(encoding="ascii", errors="replace").strip()
        if not raw:
            return 0
        if not raw.isdigit() or int(raw) > MAX_CONTROL_NUMBER:
            raise ControlNumberError(f"{self.path}: holds {raw[:20]!r}, not a control number")
        return int(raw)

    def _store(self, value: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(f"{value}\n", encoding="ascii")
        os.replace(tmp, self.path)
