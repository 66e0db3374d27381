"""Where a job's latency goes in bench/pipeline.py's paced phase (a diagnostic, not a bench).

    .venv/bin/python bench/latency_trace.py <tree> sqlite|postgres <timed> <rate> <seconds>

Runs the case as bench/pipeline.py does (40 warm-up, ``timed`` encounters at full speed, then
``rate``/s for ``seconds``), with the worker processes' ``Worker.claim``, ``run_job``,
``run_jobs_together``, ``run_jobs_guarded`` (and ``pipeline.gather_batch`` where the tree has it)
wrapped to write their wall times, thread CPU and job ids to ``$TRACE_DIR`` (default
/tmp/latency-trace). Prints one JSON line: p50/p99, claim and chunk sizes, and per paced job
notification stored -> claimed -> its chunk started -> its chunk committed. ``<tree>``: this
checkout or a base copy (``git archive <base> | tar -x -C /tmp/base``), run with that tree's venv.
"""

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

root = Path(sys.argv[1])
db = sys.argv[2]
timed_n = int(sys.argv[3])
rate = float(sys.argv[4])
secs = float(sys.argv[5])
sys.path.insert(0, str(root / "bench"))
sys.path.insert(0, str(root))
os.chdir(root)
import harness as _h  # noqa: E402
import pipeline as P  # noqa: E402
from harness import WorkerPool, analyze, database, enqueue, wait_for_done  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from app.db.models import Job  # noqa: E402

TRACE_DIR = os.environ.get("TRACE_DIR", "/tmp/latency-trace")
os.makedirs(TRACE_DIR, exist_ok=True)
ORIG = _h._worker_main
_h._worker_main = None


def traced_main(*args):
    import functools
    import json
    import os
    import time

    from app.worker import runner

    out = open(f"{TRACE_DIR}/trace-{os.getpid()}.jsonl", "a", buffering=1)  # noqa: SIM115 (open for the life of the worker process)
    W = runner.Worker

    def wrap(name):
        orig = getattr(W, name)

        @functools.wraps(orig)
        def f(self, *a, **k):
            t0 = time.time()
            c0 = time.thread_time()
            r = orig(self, *a, **k)
            ids = None
            if name == "claim":
                ids = [j.id for j in r]
            elif name == "run_job":
                ids = [a[0].id]
            elif name in ("run_jobs_together", "run_jobs_guarded"):
                ids = [j.id for j, _ in a[0]]
            out.write(
                json.dumps({"ev": name, "t0": t0, "t1": time.time(), "cpu": time.thread_time() - c0, "ids": ids}) + "\n"
            )
            return r

        setattr(W, name, f)

    for n in ("claim", "run_job", "run_jobs_together", "run_jobs_guarded"):
        wrap(n)
    try:
        from app.worker import pipeline

        if hasattr(pipeline, "gather_batch"):
            og = pipeline.gather_batch

            def gb(conn, items, **k):
                t0 = time.time()
                c0 = time.thread_time()
                r = og(conn, items, **k)
                out.write(
                    json.dumps(
                        {
                            "ev": "gather_batch",
                            "t0": t0,
                            "t1": time.time(),
                            "cpu": time.thread_time() - c0,
                            "ids": [j.id for j, _ in items],
                        }
                    )
                    + "\n"
                )
                return r

            pipeline.gather_batch = gb
    except Exception:
        pass

    return ORIG(*args)


def main():
    import glob

    _h._worker_main = traced_main
    for f in glob.glob(f"{TRACE_DIR}/trace-*.jsonl"):
        os.remove(f)
    overrides = {"worker": {"poll_interval_seconds": 0.02}}
    extra = json.loads(os.environ.get("PROBE_WORKER", "{}"))
    overrides["worker"].update(extra)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        with database(db, tmp, "probe") as url:
            services = P.open_services(url, tmp)
            engine = services.engine
            number = 1
            warm = P.notification_bodies(4, 40, "w", number)
            number += 40
            timed = P.notification_bodies(4, timed_n, "t", number)
            number += timed_n
            pool = WorkerPool(url, tmp, 1 if db == "sqlite" else 2, overrides=overrides)
            pool.start()
            try:
                with engine.begin() as conn:
                    enqueue(conn, P.SUBSCRIPTION, warm, services.clock())
                pool.release()
                wait_for_done(engine, 40, timeout=300)
                analyze(engine)
                with engine.begin() as conn:
                    enqueue(conn, P.SUBSCRIPTION, timed, services.clock())
                s = time.perf_counter()
                sec = wait_for_done(engine, 40 + timed_n, timeout=1200) - s
                case = P.Case(
                    db=db, workers=1, orders=4, encounters=timed_n, warmup=40, latency_seconds=secs, rate=rate
                )
                with engine.connect() as conn:
                    since = int(conn.execute(select(func.max(Job.id))).scalar_one())
                p99, p50, _n = P.latency_phase(case, engine, services, number)
            finally:
                pool.stop()
            with engine.connect() as conn:
                rows = conn.execute(
                    select(Job.id, Job.created_at, Job.locked_until, Job.finished_at, Job.locked_by)
                    .where(Job.id > since)
                    .order_by(Job.id)
                ).all()
            services.close()
    import glob

    ev = [json.loads(line) for f in glob.glob(f"{TRACE_DIR}/trace-*.jsonl") for line in open(f)]  # noqa: SIM115
    byid = {r.id: r for r in rows}
    claimed = {}
    run = {}
    gat = {}
    claim_sizes = []
    for e in ev:
        if e["ev"] == "claim":
            ids = [i for i in e["ids"] if i in byid]
            if ids:
                claim_sizes.append(len(ids))
            for i in ids:
                claimed.setdefault(i, e["t1"])
        elif e["ev"] in ("run_job", "run_jobs_together", "run_jobs_guarded"):
            for i in e["ids"]:
                if i in byid:
                    run.setdefault(i, (e["ev"], e["t0"], e["t1"], len(e["ids"]), e["cpu"]))
        elif e["ev"] == "gather_batch":
            for i in e["ids"]:
                gat[i] = e["t1"] - e["t0"]

    def q(v, p):
        return round(sorted(v)[min(len(v) - 1, int(p * len(v)))] * 1000, 1) if v else None

    ids = [i for i in byid if i in claimed and i in run]
    wait = [claimed[i] - byid[i].created_at.timestamp() for i in ids]
    idle = [run[i][1] - claimed[i] for i in ids]
    chunk = [run[i][2] - run[i][1] for i in ids]
    tot = [(byid[i].finished_at - byid[i].created_at).total_seconds() for i in ids]
    from collections import Counter

    chunks = {}
    for e in ev:
        if e["ev"] in ("run_job", "run_jobs_together", "run_jobs_guarded") and any(i in byid for i in e["ids"]):
            chunks[(e["ev"], e["t0"])] = e
    paths = Counter(k[0] for k in chunks)
    sizes = Counter(len(e["ids"]) for e in chunks.values())
    per_job_ms = [(e["t1"] - e["t0"]) / len(e["ids"]) * 1000 for e in chunks.values()]
    cpu_per_job = sum(e["cpu"] for e in chunks.values()) / max(1, sum(len(e["ids"]) for e in chunks.values())) * 1000
    print(
        json.dumps(
            {
                "root": str(root),
                "db": db,
                "rate_timed": round(timed_n / sec, 1),
                "p50": round(p50 * 1000, 1),
                "p99": round(p99 * 1000, 1),
                "n": len(rows),
                "traced": len(ids),
                "claims": len(claim_sizes),
                "claim_size_mean": round(statistics.mean(claim_sizes), 2) if claim_sizes else None,
                "paths": dict(paths),
                "chunk_size_hist": sorted(sizes.items()),
                "created->claimed p50/p99": [q(wait, 0.5), q(wait, 0.99)],
                "claimed->chunk start p50/p99": [q(idle, 0.5), q(idle, 0.99)],
                "chunk wall p50/p99": [q(chunk, 0.5), q(chunk, 0.99)],
                "chunk wall per job mean ms": round(statistics.mean(per_job_ms), 2),
                "chunk cpu per job ms": round(cpu_per_job, 2),
                "gather_batch p50": q(list(gat.values()), 0.5),
                "total p50/p99": [q(tot, 0.5), q(tot, 0.99)],
            }
        )
    )


if __name__ == "__main__":
    main()
