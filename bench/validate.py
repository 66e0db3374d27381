"""Validation benchmark: the hot-path R4 JSON Schema validator against the fhir.resources R4B models.

Resources: every resource of examples/bundles (the entries, as the worker validates them) and every
resource of the JSON fixtures under tests/fixtures (conformance files included), valid or not.
Both validators see the same list in the same process, interleaved in rounds (one full pass with
each per round, best round kept per validator) so that machine noise hits both alike. Not finer:
interleaving every 100 resources let pydantic evict the compiled schema from the CPU caches and
measured the schema ≈ 1.7x slower than it runs in steady state. Compilation (schema) and imports
(models) happen in a warm-up pass that is not timed, and is reported.

- **value**: µs per resource with ``app.fhir.r4.validate_resource`` (the R4 schema, jsonschema-rs).
- **floor**: µs per resource with ``app.fhir.r4.validate_with_models`` (fhir.resources R4B).
- **ratio**: floor / value (how many times faster). Target: >= 30.

Last line: one JSON object (bench, metric, value, unit, floor, ratio, target, pass).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_result  # noqa: E402

from app.fhir.r4 import InvalidResource, validate_resource, validate_with_models  # noqa: E402

TARGET = 30.0


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("resourceType"), str):
            yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def load_resources() -> list[dict[str, Any]]:
    out = []
    for path in sorted((ROOT / "examples" / "bundles").glob("*.json")):
        out += [e["resource"] for e in json.loads(path.read_text())["entry"] if "resource" in e]
    for path in sorted((ROOT / "tests" / "fixtures").rglob("*.json")):
        out += [r for r in _walk(json.loads(path.read_text())) if r["resourceType"] != "Bundle"]
    return out


def run(fn: Callable[[dict[str, Any]], None], resources: list[dict[str, Any]]) -> tuple[float, int]:
    """Seconds for one pass over ``resources`` and how many were rejected."""
    rejected = 0
    started = time.perf_counter()
    for resource in resources:
        try:
            fn(resource)
        except InvalidResource:
            rejected += 1
    return time.perf_counter() - started, rejected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    resources = load_resources()
    n = len(resources)
    warm_schema, rejected_schema = run(validate_resource, resources)
    warm_models, rejected_models = run(validate_with_models, resources)
    best_schema = best_models = float("inf")
    for _ in range(args.rounds):
        best_schema = min(best_schema, run(validate_resource, resources)[0])
        best_models = min(best_models, run(validate_with_models, resources)[0])
    us_schema, us_models = best_schema / n * 1e6, best_models / n * 1e6
    ratio = us_models / us_schema
    print(f"{n} resources ({rejected_schema} rejected by the schema, {rejected_models} by the models)")
    print(f"first pass (compiles / imports): schema {warm_schema * 1e3:.0f} ms, models {warm_models * 1e3:.0f} ms")
    print(f"R4 JSON Schema (jsonschema-rs): {us_schema:8.1f} µs/resource")
    print(f"fhir.resources R4B models:      {us_models:8.1f} µs/resource")
    print(f"ratio: {ratio:.1f}x faster (target >= {TARGET:.0f}x)")
    print_result(
        bench="validate",
        metric="schema_us_per_resource",
        value=us_schema,
        unit="us/resource",
        floor=us_models,
        ratio=ratio,
        target={"ratio_min": TARGET},
        passed=ratio >= TARGET,
    )


if __name__ == "__main__":
    main()
