"""The folder adapter (embedded default): each delivery becomes a JSON file under a directory.

``<out_dir>/<destination>/<kind>/<key>.json``, written to a temporary file and renamed, so a reader
never sees half a file and a re-delivery of the same key overwrites it (idempotent).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import orjson

from app.adapters.base import TemporaryDeliveryError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FolderAdapter:
    def __init__(self, *, name: str, out_dir: Path) -> None:
        self.name = name
        self.directory = out_dir / name

    def path_for(self, kind: str, key: str) -> Path:
        return self.directory / _UNSAFE.sub("_", kind) / f"{_UNSAFE.sub('_', key)}.json"

    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        target = self.path_for(kind, key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
            os.replace(tmp, target)
        except OSError as exc:
            raise TemporaryDeliveryError(f"cannot write {target.name}: {exc.strerror}") from exc
