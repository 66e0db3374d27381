"""Restart: kill -9 of ``claimbridge serve`` and ``claimbridge worker``, then the time until each serves
again (issue 17 item 5, "service resumes within 5 s of restart").

Per database (``--db sqlite,postgres``): a fresh database, one ``claimbridge serve --no-worker`` and
one ``claimbridge worker`` process (:class:`procs.Processes`, as the soak; logs kept under
``var/bench-runs``). ``--rounds`` times: SIGKILL the API, start it again and time until
``GET /readyz`` answers 200 (database reachable and schema current); SIGKILL the worker, start it
again and time until its heartbeat file is touched
(the worker loop runs). For context it also times ``import app.cli.main`` alone in a fresh
interpreter (wall and CPU seconds), the CPU seconds each restarted process used until it was ready
(``/proc/<pid>/stat``), and the load average: on a shared machine the wall time scales with the
load, the CPU time much less. ``app/``'s ``.pyc`` files are written first (as an installed package
has them; ``--no-compile`` skips that).

Target: every restart -> ready <= 5 s. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_result
from harness import ROOT, compile_bytecode, database, kept_dir
from procs import Processes
from soak import TARGET_RESUME_S


def import_seconds(module: str, repeat: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``import module`` in a fresh interpreter."""
    code = (
        "import resource, time; t = time.perf_counter(); import " + module + "; "
        "r = resource.getrusage(resource.RUSAGE_SELF); "
        "print(time.perf_counter() - t, r.ru_utime + r.ru_stime)"
    )
    walls, cpus = [], []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        wall, cpu = (float(x) for x in out.stdout.split())
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_db(kind: str, rounds: int, tmp: Path, timeout: float) -> dict[str, list[float]]:
    """Wall seconds to ready per kill -9 (``api``, ``worker``) and the CPU seconds each start used."""
    tmp.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[float]] = {"api": [], "worker": [], "api_cpu": [], "worker_cpu": []}
    with database(kind, tmp, "restart") as url:
        procs = Processes(url, tmp, 1)
        try:
            procs.start(120)  # the first start migrates the fresh database
            for _ in range(rounds):
                out["api"].append(procs.crash_api(timeout))
                assert procs.api is not None
                out["api_cpu"].append(cpu_seconds(procs.api.pid))
                out["worker"].append(procs.crash_worker(0, timeout))
                out["worker_cpu"].append(cpu_seconds(procs.worker_procs[0].pid))
        finally:
            procs.stop()
    phases = procs.phases[1:]  # the first start migrated
    shown = [f"{'?' if listen is None else f'{listen:.2f}'}/{ready:.2f}" for _, ready, listen in phases]
    print(f"{kind:8} api    launch -> listening / -> /readyz 200 per kill -9: {', '.join(shown)}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--no-compile", action="store_true", help="do not write app/'s .pyc first (time start-ups from source)"
    )
    parser.add_argument("--timeout", type=float, default=60, help="seconds a restart may take before it is diagnosed")
    args = parser.parse_args()
    os.environ.setdefault("CLAIMBRIDGE_SETTINGS_FILE", os.devnull)
    if not args.no_compile:
        compile_bytecode()
    load = os.getloadavg()[0]
    wall, cpu = import_seconds("app.cli.main", 3)
    print(f"load average {load:.1f}; import app.cli.main: {wall:.2f} s wall, {cpu:.2f} s CPU (median of 3)")
    worst = 0.0
    per_db = {}
    d = kept_dir("restart")
    print(f"run folder (databases, process logs): {d}", flush=True)
    for kind in args.db.split(","):
        times = run_db(kind, args.rounds, d / kind, args.timeout)
        for who in ("api", "worker"):
            values, cpu_used = times[who], times[f"{who}_cpu"]
            worst = max(worst, *values)
            print(
                f"{kind:8} {who:6} restart -> ready: median {statistics.median(values):.2f} s, "
                f"max {max(values):.2f} s over {len(values)} kill -9 ({', '.join(f'{v:.2f}' for v in values)}); "
                f"CPU used to get there: median {statistics.median(cpu_used):.2f} s"
            )
        per_db[kind] = {who: round(max(v), 2) for who, v in times.items()}
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print_result(
        bench="restart",
        metric="restart_to_ready_max",
        value=worst,
        unit="s",
        floor=None,
        ratio=None,
        target={
            "max_s": TARGET_RESUME_S,
            "per_db_max_s": per_db,
            "load": round(load, 1),
            "import_cpu_s": round(cpu, 2),
        },
        passed=worst <= TARGET_RESUME_S,
    )


if __name__ == "__main__":
    main()
