"""Scale-out benchmark: 1, 2 and 3 worker processes on the local PostgreSQL over the same stream.

Each run gets a fresh private schema and the same notification stream (``bench/pipeline.py``'s
encounters with 4 orders, stored beforehand); it is timed from the commit of the stream to the last
job done. Checks that every job is done exactly once with one claim version each (0 duplicates)
and prints the throughput ratio to one worker. The machine has 2 cores: 3 workers show the ceiling
(PostgreSQL itself shares those cores).

Target: 2 workers >= 1.5 x one worker, 0 duplicates.
Last line: one JSON object (bench, metric, value, unit, floor, ratio, target, pass).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_result
from pipeline import Case, run_case

TARGET_RATIO = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,3", help="worker process counts, comma-separated")
    parser.add_argument("--encounters", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--orders", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("CLAIMBRIDGE_SETTINGS_FILE", os.devnull)
    rates: dict[int, float] = {}
    duplicates = 0
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as d:
        for workers in (int(w) for w in args.workers.split(",")):
            r = run_case(Case("postgres", workers, args.orders, args.encounters, args.warmup, 0.0, 100.0), Path(d))
            rates[workers] = r["rate"]
            duplicates += r["duplicates"]
            base = rates.get(1, r["rate"])
            print(
                f"{workers} worker(s): {r['rate']:7.1f} encounters/s (x{r['rate'] / base:.2f} of one worker; "
                f"floor {r['floor_rate']:.1f}/s), duplicates {r['duplicates']}",
                flush=True,
            )
    one, two = rates.get(1), rates.get(2)
    ratio = two / one if one and two else None
    print_result(
        bench="scale",
        metric="encounters_per_second_2_workers_postgres",
        value=two or 0.0,
        unit="encounters/s",
        floor=one,
        ratio=ratio,
        target={
            "ratio_2_to_1": TARGET_RATIO,
            "duplicates": 0,
            "rates": {str(k): round(v, 1) for k, v in rates.items()},
            "duplicates_found": duplicates,
        },
        passed=ratio is not None and ratio >= TARGET_RATIO and duplicates == 0,
    )


if __name__ == "__main__":
    main()
