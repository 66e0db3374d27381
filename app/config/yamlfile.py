"""YAML loading that remembers line numbers, and pydantic validation that reports them.

``load_yaml(path)`` returns plain Python data plus a :class:`LineMap` from dotted field paths
(``rules.3.source``) to 1-based line numbers. ``validate_file(path, Model)`` loads a file and
validates it with a pydantic model (``extra="forbid"`` on config models makes unknown keys errors);
any error becomes a :class:`ConfigError` naming the file, the line and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from app.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class LineMap(dict[str, int]):
    """Dotted path -> line number; ``line_for`` falls back to the nearest known parent."""

    def line_for(self, path: tuple[Any, ...] | list[Any]) -> int | None:
        parts = [str(p) for p in path]
        while parts:
            key = ".".join(parts)
            if key in self:
                return self[key]
            parts.pop()
        return self.get("", None)


# libyaml's parser when PyYAML was built with it (about 10x faster than the pure-Python one at
# start-up); the nodes carry the same line marks, so line numbers in errors are unchanged.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same interface as SafeLoader


def _construct(node: yaml.Node, loader: yaml.SafeLoader, path: str, lines: LineMap) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                raise ConfigError(loader.name, key_node.start_mark.line + 1, _join(path, key), "duplicate key")
            child = _join(path, key)
            lines[child] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, loader, child, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, loader, _join(path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse one YAML file; syntax errors become :class:`ConfigError` with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, None, None, f"cannot read: {exc.strerror}") from exc
    loader = _Loader(text)
    loader.name = str(path)
    lines = LineMap()
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        return _construct(node, loader, "", lines), lines
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(path, line, None, f"YAML syntax: {exc.problem}") from exc
    finally:
        loader.dispose()


def validate_data(path: Path, data: Any, lines: LineMap, model: type[M]) -> M:
    """Validate already-loaded data; the first error becomes a :class:`ConfigError`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        field = ".".join(str(p) for p in loc) or None
        raise ConfigError(path, lines.line_for(loc), field, str(err.get("msg"))) from exc


def validate_file(path: Path, model: type[M]) -> M:
    data, lines = load_yaml(path)
    return validate_data(path, data, lines, model)
