"""Rules benchmark: all enabled rules over a 10-line claim, against the mapping step in the same run.

The claim comes from a sample encounter (examples/bundles) with extra completed lab orders so that it
has at least 10 lines; History holds three earlier claims of the same patient. Both steps run in one
process on one core, interleaved in rounds (best round kept) so machine noise hits both alike.

Targets: rules cost <= 0.3 x mapping; >= 5,000 claims/s for the rules alone.
Output: a human-readable summary (best and median round), then two JSON result lines
(bench/common.py): the rules rate alone, and last the combined verdict (cost ratio AND rate).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import result_line

from app.config.loader import load_config
from app.domain.context import build_contexts, resources_from_bundle
from app.evaluate import history_for
from app.mappers import map_encounter
from app.rules import all_rules, check_claim

ROOT = Path(__file__).resolve().parent.parent
LABS = ["24323-8", "58410-2", "4548-4", "57698-3", "3016-3", "24356-8"]
TODAY = date(2026, 11, 20)
TARGET_RATE = 5000  # claims/s, rules alone on one core
TARGET_RATIO = 0.3  # rules cost / mapping cost


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
    map_rounds, rule_rounds = [], []
    for _ in range(args.rounds):  # interleaved, so machine noise hits both alike
        map_rounds.append(best_of(1, args.n, run_map))
        rule_rounds.append(best_of(1, args.n, run_rules))
    mapping, rules = min(map_rounds), min(rule_rounds)  # the best round of each is kept
    ratio = rules / mapping
    rate = 1 / rules
    print(f"claim: {lines} lines, {len(all_rules())} registered rules, history of {len(prior)} claims")
    print(
        f"mapping: {mapping * 1e6:.0f} us/claim   rules: {rules * 1e6:.0f} us/claim   "
        f"rules/mapping = {ratio:.2f}   rules alone: {rate:.0f} claims/s   (best of {args.rounds} rounds)"
    )
    median_rules, median_map = statistics.median(rule_rounds), statistics.median(map_rounds)
    print(f"median round: mapping {median_map * 1e6:.0f} us, rules {median_rules * 1e6:.0f} us")
    print(
        result_line(
            bench="rules", metric="rules_claims_per_second", value=rate, unit="claims/s",
            floor=None, ratio=None, target=TARGET_RATE, passed=rate >= TARGET_RATE,
        )
    )  # fmt: skip
    print(  # last line: the combined verdict
        result_line(
            bench="rules", metric="rules_cost_vs_mapping", value=rules * 1e6, unit="us/claim",
            floor=mapping * 1e6, ratio=ratio, target={"ratio": TARGET_RATIO, "rate": TARGET_RATE},
            passed=ratio <= TARGET_RATIO and rate >= TARGET_RATE,
        ),
        flush=True,
    )  # fmt: skip


if __name__ == "__main__":
    main()
