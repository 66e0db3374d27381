"""Shared benchmark helpers: the one-JSON-object result line every bench prints last."""

from __future__ import annotations

import json
from typing import Any


def result_line(
    *,
    bench: str,
    metric: str,
    value: float,
    unit: str,
    floor: float | None,
    ratio: float | None,
    target: Any,
    passed: bool,
) -> str:
    """``{"bench", "metric", "value", "unit", "floor", "ratio", "target", "pass"}`` as one JSON line."""
    return json.dumps(
        {
            "bench": bench,
            "metric": metric,
            "value": round(value, 3),
            "unit": unit,
            "floor": None if floor is None else round(floor, 3),
            "ratio": None if ratio is None else round(ratio, 3),
            "target": target,
            "pass": bool(passed),
        }
    )


def print_result(**fields: Any) -> None:
    """Print :func:`result_line` (call it last: harnesses read the last line of the output)."""
    print(result_line(**fields), flush=True)
