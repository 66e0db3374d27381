"""Generate the synthetic sample EHR data of claimbridge (FHIR R4 Bundles, no real patients).

Run from the project root::

    .venv/bin/python examples/generate.py [--seed 2026] [--out examples]

Writes ``bundles/encounter-NNN.json`` (one collection Bundle per encounter), ``manifest.json`` (scenario and
expected problem tags per bundle) and ``all-encounters.json`` (every resource once). Deterministic: the same
seed gives the same bytes; dates hang off the anchor date 2026-11-20, never the wall clock. Every resource is
validated against the pinned R4 models before anything is written; a shared resource that differs between
two bundles is an error.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # sibling modules, also when loaded from elsewhere
    sys.path.insert(0, str(HERE))

import sample_world as w  # noqa: E402
from sample_plan import Visit  # noqa: E402
from sample_records import resources_for  # noqa: E402
from sample_scenarios import build_plan  # noqa: E402

from app.fhir.r4 import validate_resource  # noqa: E402

DEFAULT_SEED = 2026
BUNDLE_TIMESTAMP = "2026-11-20T18:00:00-05:00"
Resource = dict[str, Any]


def bundle_of(bundle_id: str, resources: list[Resource]) -> Resource:
    return {"resourceType": "Bundle", "id": bundle_id, "meta": {"lastUpdated": BUNDLE_TIMESTAMP},
            "type": "collection", "timestamp": BUNDLE_TIMESTAMP,
            "entry": [{"fullUrl": f"{w.BASE}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]}


def manifest_row(visit: Visit, file: str) -> Resource:
    coverages = visit.patient.coverages
    return {"file": file, "encounter": visit.id, "payer_id": w.PAYERS[coverages[0].payer][0] if coverages else None,
            "scenario": visit.label, "expected": list(visit.tags)}


def dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def build_outputs(seed: int) -> tuple[dict[str, Resource], list[Resource], Resource]:
    """(bundle file name -> bundle, manifest rows, all-encounters bundle), all validated."""
    bundles: dict[str, Resource] = {}
    rows: list[Resource] = []
    everything: dict[str, Resource] = {}
    for visit in build_plan(random.Random(seed)):
        resources = resources_for(visit)
        for resource in resources:
            validate_resource(resource)
            key = f"{resource['resourceType']}/{resource['id']}"
            if everything.setdefault(key, resource) != resource:
                raise SystemExit(f"{key} differs between bundles")
        name = f"encounter-{visit.num:03d}"
        bundles[f"{name}.json"] = bundle_of(name, resources)
        rows.append(manifest_row(visit, f"bundles/{name}.json"))
    return bundles, rows, bundle_of("all-encounters", list(everything.values()))


def generate(*, seed: int, out: Path) -> None:
    bundles, rows, everything = build_outputs(seed)
    folder = out / "bundles"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("encounter-*.json"):
        stale.unlink()
    for name, bundle in bundles.items():
        dump(folder / name, bundle)
    dump(out / "manifest.json", rows)
    dump(out / "all-encounters.json", everything)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: examples/)")
    args = parser.parse_args(argv)
    generate(seed=args.seed, out=args.out)
    print(f"wrote {len(list((args.out / 'bundles').glob('encounter-*.json')))} bundles to {args.out}")


if __name__ == "__main__":
    main()
