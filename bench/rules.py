"""Rules benchmark: all enabled rules over a 10-line claim, against the mapping step in the same run.

The claim comes from a sample encounter (examples/bundles) with extra completed lab orders so that it
has at least 10 lines; History holds three earlier claims of the same patient. Both steps run in one
process on one core, interleaved in rounds (best round kept) so machine noise hits both alike.

Targets: rules cost <= 0.3 x mapping; >= 5,000 claims/s for the rules alone.
Last line: one JSON object (bench, metric, value, unit, floor, ratio, target, pass).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

from app.config.loader import load_config
from app.domain.context import build_contexts, resources_from_bundle
from app.evaluate import history_for
from app.mappers import map_encounter
from app.rules import all_rules, check_claim

ROOT = Path(__file__).resolve().parent.parent
LABS = ["24323-8", "58410-2", "4548-4", "57698-3", "3016-3", "24356-8"]
TODAY = date(2026, 11, 20)


def ten_line_context():  # type: ignore[no-untyped-def]
    bundle = json.loads((ROOT / "examples" / "bundles" / "encounter-056.json").read_text())
    resources = [r for r, _ in resources_from_bundle(bundle)]
    template = next(r for r in resources if r["resourceType"] == "ServiceRequest")
    for i, loinc in enumerate(LABS):
        order = copy.deepcopy(template)
        order["id"] = f"bench-lab-{i}"
        order["status"] = "completed"
        order["code"] = {"coding": [{"system": "http://loinc.org", "code": loinc}]}
        resources.append(order)
    return build_contexts(resources)[0]


def best_of(rounds: int, n: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    config = load_config(ROOT / "config")
    ctx = ten_line_context()
    created = datetime(2026, 11, 20, 12, tzinfo=UTC)
    mapped = map_encounter(ctx, mappings=config.mappings, chargemaster=config.chargemaster, created=created)
    assert mapped is not None
    lines = len(mapped.claim.get("item", []))
    prior = []
    for k in range(3):
        other = copy.deepcopy(mapped.claim)
        other["id"] = f"cb-prior-{k}"
        for item in other.get("item", []):
            item["servicedDate"] = f"2026-10-0{k + 1}"
        prior.append(other)
    history = history_for(ctx, prior_claims=prior)

    def run_map() -> None:
        map_encounter(ctx, mappings=config.mappings, chargemaster=config.chargemaster, created=created)

    def run_rules() -> None:
        check_claim(
            mapped.claim,
            ctx,
            rules=config.rules,
            payers=config.payers,
            refdata=config.refdata,
            history=history,
            today=TODAY,
        )

    for fn in (run_map, run_rules):  # warm caches
        best_of(1, 50, fn)
    mapping, rules = float("inf"), float("inf")
    for _ in range(args.rounds):
        mapping = min(mapping, best_of(1, args.n, run_map))
        rules = min(rules, best_of(1, args.n, run_rules))
    ratio = rules / mapping
    rate = 1 / rules
    print(f"claim: {lines} lines, {len(all_rules())} registered rules, history of {len(prior)} claims")
    print(
        f"mapping: {mapping * 1e6:.0f} us/claim   rules: {rules * 1e6:.0f} us/claim   "
        f"rules/mapping = {ratio:.2f}   rules alone: {rate:.0f} claims/s"
    )
    print(
        json.dumps(
            {
                "bench": "rules",
                "metric": "rules_claims_per_second",
                "value": round(rate),
                "unit": "1/s",
                "floor": None,
                "ratio": None,
                "target": 5000,
                "pass": rate >= 5000,
            }
        )
    )
    print(
        json.dumps(
            {
                "bench": "rules",
                "metric": "rules_cost_vs_mapping",
                "value": round(rules * 1e6, 1),
                "unit": "us",
                "floor": round(mapping * 1e6, 1),
                "ratio": round(ratio, 3),
                "target": 0.3,
                "pass": ratio <= 0.3 and rate >= 5000,
            }
        )
    )


if __name__ == "__main__":
    main()
