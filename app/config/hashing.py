"""A content hash of a configuration directory, recorded on every claim it produces."""

from __future__ import annotations

import hashlib
from pathlib import Path

CONFIG_SUFFIXES = (".yaml", ".yml")


def config_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in CONFIG_SUFFIXES)


def config_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in config_files(directory):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
