"""The configuration error: one line naming file, line and field."""

from __future__ import annotations

from pathlib import Path

from app.errors import FatalError


class ConfigError(FatalError, ValueError):
    """A configuration file that cannot be used. ``str()`` is one line: ``file:line: field: problem``."""

    def __init__(self, path: Path | str, line: int | None, field: str | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        where = f"{self.path}:{line}" if line else self.path
        what = f"{field}: " if field else ""
        super().__init__(f"{where}: {what}{problem}")
