"""SQL statements per job: one in-process worker draining ``bench/pipeline.py``'s encounters.

Counts every statement the worker's connections send (a SQLAlchemy ``before_cursor_execute``
listener; an executemany counts as one statement and is marked ``many``), per job and grouped by
the innermost ``app/`` function that sent it, with the wall time spent in each group. Optional
``--profile``: a pyinstrument profile of the same drain (wall time, so waiting on PostgreSQL shows).

Bench-only: nothing here is part of the application.
Last line: one JSON object (bench, metric, value, unit, floor, ratio, target, pass); the target is
informative (statements per job of the run are what to compare before/after).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_result
from harness import analyze, database, enqueue
from pipeline import SUBSCRIPTION, notification_bodies, open_services

APP = str(Path(__file__).resolve().parent.parent / "app") + os.sep


def caller() -> str:
    """The innermost ``app/`` frames (the repository function and its first caller outside ``app/db``)."""
    names = []
    for frame in reversed(traceback.extract_stack(limit=40)):
        if frame.filename.startswith(APP) and not frame.filename.endswith("engine.py"):
            module = frame.filename[len(APP) : -3].replace(os.sep, ".")
            names.append(f"{module}.{frame.name}")
            if not module.startswith("db."):
                break
    return " < ".join(names[:3]) or "(outside app)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgres", choices=("sqlite", "postgres"))
    parser.add_argument("--encounters", type=int, default=200)
    parser.add_argument("--orders", type=int, default=4)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the timed drain (wall time)")
    parser.add_argument("--no-analyze", action="store_true", help="no ANALYZE after the warm-up (harness.analyze)")
    args = parser.parse_args()
    os.environ.setdefault("CLAIMBRIDGE_SETTINGS_FILE", os.devnull)
    from app.services import build_worker

    counts: collections.Counter[str] = collections.Counter()
    seconds: collections.Counter[str] = collections.Counter()
    started_at: dict[int, tuple[str, float]] = {}
    on = {"counting": False}

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if on["counting"]:
            label = caller() + (" [many]" if many else "")
            verb = statement.lstrip().split(None, 1)[0].upper()
            started_at[id(cursor)] = (f"{label} {verb}", time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        item = started_at.pop(id(cursor), None)
        if item is not None:
            counts[item[0]] += 1
            seconds[item[0]] += time.perf_counter() - item[1]

    # savepoints and commits do not go through the cursor events: count them from the engine events
    def tx_event(name: str) -> Any:
        def record(*_a: Any, **_k: Any) -> None:
            if on["counting"]:
                counts[f"({name})"] += 1

        return record

    with tempfile.TemporaryDirectory(prefix="bench-statements-") as d, database(args.db, Path(d), "stmts") as url:
        services = open_services(url, Path(d))
        engine = services.engine
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        for name in ("begin", "commit", "rollback", "savepoint", "release_savepoint", "rollback_savepoint"):
            event.listen(engine, name, tx_event(name))
        worker = dataclasses.replace(build_worker(services, worker_id="statements"), duties=())
        with engine.begin() as conn:
            enqueue(conn, SUBSCRIPTION, notification_bodies(args.orders, 20, "sw", 1), services.clock())
        worker.drain()
        if not args.no_analyze:
            analyze(engine)
        with engine.begin() as conn:
            enqueue(conn, SUBSCRIPTION, notification_bodies(args.orders, args.encounters, "st", 100), services.clock())
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        on["counting"] = True
        wall, cpu = time.perf_counter(), time.process_time()
        worker.drain()
        worker.close()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        on["counting"] = False
        if profiler is not None:
            profiler.stop()
        services.close()
    jobs = args.encounters
    sent = sum(n for k, n in counts.items() if not k.startswith("("))
    print(f"{args.db}, {args.orders} orders, one in-process worker, {jobs} jobs: {wall / jobs * 1000:.2f} ms wall, "
          f"{cpu / jobs * 1000:.2f} ms CPU per job (load average {os.getloadavg()[0]:.2f})")  # fmt: skip
    print(f"  {'statements per job (cursor executions)':100} {sent / jobs:6.2f}")
    for label, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        spent = f"{seconds[label] / jobs * 1000:6.3f} ms" if label in seconds else ""
        print(f"  {label:100} {n / jobs:6.2f}  {spent}")
    if profiler is not None:
        print(profiler.output_text(unicode=True))
    print_result(
        bench="statements",
        metric=f"statements_per_job_{args.orders}_orders_{args.db}",
        value=sent / jobs,
        unit="statements/job",
        floor=None,
        ratio=None,
        target={"wall_ms_per_job": round(wall / jobs * 1000, 2), "cpu_ms_per_job": round(cpu / jobs * 1000, 2)},
        passed=True,
    )


if __name__ == "__main__":
    main()
