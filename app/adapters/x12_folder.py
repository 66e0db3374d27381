"""The clearinghouse folder transport (embedded default): 837P files out, response files in.

:class:`X12FolderAdapter` delivers outbox ``837p`` and ``270`` rows as ``<outbox_dir>/<file name>`` (written to a
temporary file and renamed: a reader never sees half a file; a re-delivery rewrites the same name).
Other kinds (legacy JSON deliveries) go to the plain :class:`~app.adapters.folder.FolderAdapter`.

:class:`FolderResponseSource` lists the files dropped into ``<inbox_dir>`` (oldest name first,
skipping hidden and partial files); once a file is ingested it moves to ``processed/``, and a file
that could not be stored stays where it is and is tried again at the next poll, until the worker
quarantines it: it moves to ``quarantine/`` until an operator releases it back into the inbox.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.adapters.base import FatalDeliveryError, TemporaryDeliveryError
from app.adapters.folder import FolderAdapter

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
SKIPPED_SUFFIXES = (".partial", ".tmp")
#: Outbox kinds written as X12 files: 837P batches, and the day-before batch 270s (app.eligibility.batch).
FILE_KINDS = frozenset({"837p", "270"})


def write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class X12FolderAdapter:
    def __init__(self, *, name: str, outbox_dir: Path, fallback: FolderAdapter) -> None:
        self.name = name
        self.outbox_dir = outbox_dir
        self.fallback = fallback

    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        if kind not in FILE_KINDS:
            self.fallback.deliver(kind=kind, key=key, payload=payload)
            return
        file_name, text = payload.get("file_name"), payload.get("x12")
        if not isinstance(file_name, str) or not _SAFE_NAME.match(file_name) or not isinstance(text, str):
            raise FatalDeliveryError(f"{key}: an {kind} delivery needs a safe file_name and the x12 text")
        try:
            write_atomically(self.outbox_dir / file_name, text.encode("utf-8"))
        except OSError as exc:
            raise TemporaryDeliveryError(f"cannot write {file_name}: {exc.strerror}") from exc


@dataclass(frozen=True)
class InboundItem:
    name: str
    content: bytes
    handle: str  # what ``finish`` needs to find the item again


def move_aside(source: Path, folder: Path) -> Path:
    """Move ``source`` into ``folder`` under its name (a name already there gets a numeric suffix)."""
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / source.name, 1
    while target.exists():
        target, n = folder / f"{source.name}.{n}", n + 1
    os.replace(source, target)
    return target


class FolderResponseSource:
    name = "folder"

    def __init__(self, inbox_dir: Path) -> None:
        self.inbox_dir = inbox_dir

    @property
    def quarantine_dir(self) -> Path:
        return self.inbox_dir / "quarantine"

    def pending(self, skip: Set[str] = frozenset()) -> list[InboundItem]:
        """The files waiting in the inbox (``skip`` is for sources that cannot move files aside)."""
        if not self.inbox_dir.is_dir():
            return []
        items = []
        for path in sorted(self.inbox_dir.iterdir()):
            if path.is_file() and not path.name.startswith(".") and not path.name.endswith(SKIPPED_SUFFIXES):
                items.append(InboundItem(path.name, path.read_bytes(), str(path)))
        return items

    def finish(self, item: InboundItem) -> None:
        """Move an ingested file to ``processed/``."""
        move_aside(Path(item.handle), self.inbox_dir / "processed")

    def quarantine(self, item: InboundItem) -> str:
        """Move a file that keeps failing to ``quarantine/``; returns its name there."""
        source = Path(item.handle)
        if not source.exists():  # another worker moved it already
            return source.name
        return move_aside(source, self.quarantine_dir).name

    def release(self, handle: str) -> None:
        """Put a quarantined file (``handle``: its name in ``quarantine/``) back into the inbox."""
        path = self.quarantine_dir / Path(handle).name
        if not path.is_file():
            raise FileNotFoundError(f"{Path(handle).name} is no longer in {self.quarantine_dir}")
        move_aside(path, self.inbox_dir)
