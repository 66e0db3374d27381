"""Shared machinery of the multi-process benchmarks (pipeline, scale, soak).

- :func:`kept_dir`: the run's folder under ``var/bench-runs`` (logs kept for a post-mortem).
- :func:`database`: a fresh SQLite file, or a private schema on the local PostgreSQL (dropped after).
- :func:`settings_for`: the settings every process of one run uses (reference data cached under
  ``var/bench-refdata`` so each worker process starts in about a second, not eight).
- :class:`WorkerPool`: N real worker processes (``build_worker``: prefetch, batched commits; no
  periodic duties unless asked), started, released together, stopped.
- :func:`floor_run`: the issue-12 floor in N processes: the same notification bodies parsed with
  orjson, every resource validated with the hot-path validator (``app.fhir.schema``), written one
  row each, one commit per encounter.
- :func:`enqueue` / :func:`job_counts` / :func:`duplicate_claims`: stream in, results out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import multiprocessing as mp
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import JSON, Column, MetaData, String, Table, func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import intake_repo  # noqa: E402
from app.db.engine import make_engine  # noqa: E402
from app.db.models import ClaimVersion, Job  # noqa: E402
from app.fhir import schema  # noqa: E402
from app.intake.notification import parse_notification  # noqa: E402
from app.settings import Settings  # noqa: E402

PG_URL = os.environ.get("CLAIMBRIDGE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REFDATA = ROOT / "var" / "bench-refdata"
CTX = mp.get_context("spawn")


def compile_bytecode() -> None:
    """Write ``app/``'s ``.pyc`` files before timing process start-ups.

    An installed package has them (pip compiles at install); an editable checkout under
    ``PYTHONDONTWRITEBYTECODE=1`` (this machine's environment) has none, and every process start
    then compiles ~300 modules from source: about 0.5 s CPU of each start-up. ``compileall`` writes
    them whatever that variable says; Python still reads them.
    """
    import compileall

    compileall.compile_dir(str(ROOT / "app"), quiet=1)


def kept_dir(bench: str) -> Path:
    """A new folder ``var/bench-runs/<bench>-<UTC time>`` for a run's databases, files and process logs,
    kept afterwards (the benches print it) so a failed run can be looked at."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = ROOT / "var" / "bench-runs" / f"{bench}-{stamp}-{os.getpid()}"
    path.mkdir(parents=True)
    return path


@contextlib.contextmanager
def database(kind: str, tmp: Path, name: str) -> Iterator[str]:
    """A fresh database URL of ``kind`` (``sqlite`` or ``postgres``)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / name}.db"
        return
    schema_name = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema_name}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema_name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema_name}" CASCADE')


def settings_for(url: str, tmp: Path, **overrides: Any) -> Settings:
    REFDATA.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "database_url": url,
        "config_dir": ROOT / "config",
        "refdata_dir": REFDATA,
        "log_level": "WARNING",
        "adapters": {"out_dir": str(tmp / "out")},
    }
    values.update(overrides)
    return Settings(**values)


def enqueue(conn: Any, subscription: str, bodies: Sequence[bytes], now: Any) -> None:
    for body in bodies:
        intake_repo.store_notification(
            conn, subscription_id=subscription, note=parse_notification(body), body=body,
            content_type="application/fhir+json", now=now,
        )  # fmt: skip


def job_counts(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {str(s): int(n) for s, n in rows}


def duplicate_claims(engine: Any) -> int:
    """Claim versions stored twice: a version whose content (fingerprint) equals the version before it
    (a re-delivery or a concurrent worker that should have found it unchanged), or a repeated version number."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(ClaimVersion.claim_id, ClaimVersion.version, ClaimVersion.fingerprint).order_by(
                ClaimVersion.claim_id, ClaimVersion.version
            )
        ).all()
    duplicates = 0
    for previous, row in itertools.pairwise(rows):
        if previous.claim_id == row.claim_id and (
            previous.fingerprint == row.fingerprint or previous.version == row.version
        ):
            duplicates += 1
    return duplicates


def latencies(engine: Any, since_id: int = 0) -> list[float]:
    """Seconds from each job's notification being stored to its result being committed."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Job.created_at, Job.finished_at).where(Job.id > since_id, Job.status == "done")
        ).all()
    return sorted((f - c).total_seconds() for c, f in rows if f is not None and c is not None)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


# --- worker processes ---------------------------------------------------------------------------


def _worker_main(
    spec: tuple[str, str, dict[str, Any]], worker_id: str, duties: bool, ready: Any, go: Any, stop: Any
) -> None:
    os.environ.setdefault("CLAIMBRIDGE_SETTINGS_FILE", os.devnull)
    from app.logging import configure_logging
    from app.services import build_services, build_worker

    url, tmp, overrides = spec
    settings = settings_for(url, Path(tmp), **overrides)
    services = build_services(settings, upgrade=False)
    configure_logging(level="WARNING", fmt="json")
    worker = build_worker(services, worker_id=worker_id)
    if not duties:
        worker = dataclasses.replace(worker, duties=())
    ready.set()
    go.wait()
    while not stop.is_set():
        if worker.run_once() == 0:
            stop.wait(settings.worker.poll_interval_seconds)
    worker.close()
    services.close()


@dataclasses.dataclass
class WorkerPool:
    """``count`` worker processes over ``url`` (settings: :func:`settings_for` with ``overrides``)."""

    url: str
    tmp: Path
    count: int
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    duties: bool = False
    procs: list[Any] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.go, self.stop_event = CTX.Event(), CTX.Event()
        self.ready = [CTX.Event() for _ in range(self.count)]

    def start(self, *, timeout: float = 120) -> None:
        """Start the processes and wait until each has built its services (not yet working)."""
        blob = (self.url, str(self.tmp), self.overrides)
        for n in range(self.count):
            p = CTX.Process(
                target=_worker_main,
                args=(blob, f"bench-w{n}", self.duties, self.ready[n], self.go, self.stop_event),
                daemon=True,
            )
            p.start()
            self.procs.append(p)
        deadline = time.monotonic() + timeout
        for event, proc in zip(self.ready, self.procs, strict=True):
            while not event.wait(0.2):
                if not proc.is_alive() or time.monotonic() > deadline:
                    raise SystemExit(f"worker process {proc.pid} did not start (exit code {proc.exitcode})")

    def release(self) -> float:
        self.go.set()
        return time.perf_counter()

    def stop(self, *, timeout: float = 30) -> None:
        self.stop_event.set()
        for p in self.procs:
            p.join(timeout)
            if p.is_alive():
                p.kill()


def analyze(engine: Any) -> None:
    """Planner statistics for the run's PostgreSQL schema, as autovacuum keeps them in production.

    The local server runs with ``autovacuum = off``, so a fresh schema never gets any: the planner
    then takes ``resource`` for a few rows and reads every row of the EHR for each mirror lookup by
    key (``ehr`` alone as the index condition), about 2 ms of server CPU per statement at 3,000
    rows and growing with the table. The benches call this once, after the warm-up. SQLite: nothing.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        tables = conn.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").all()
        for (table,) in tables:
            conn.exec_driver_sql(f'ANALYZE "{table}"')


def wait_for_done(engine: Any, expected: int, *, timeout: float, poll: float = 0.02) -> float:
    """perf_counter() when ``expected`` jobs are done and none is pending (SystemExit on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = job_counts(engine)
        if counts.get("done", 0) + counts.get("dead", 0) >= expected and not counts.get("pending", 0):
            return time.perf_counter()
        time.sleep(poll)
    raise SystemExit(f"timed out waiting for {expected} jobs: {job_counts(engine)}")


# --- the floor ------------------------------------------------------------------------------------

_META = MetaData()
FLOOR = Table("bench_floor_resource", _META, Column("key", String(300), primary_key=True), Column("body", JSON))


def _floor_main(url: str, bodies: list[bytes], tag: str, ready: Any, go: Any, out: Any) -> None:
    engine = make_engine(url)
    with engine.connect():
        pass
    for resource_type in ("Encounter", "Patient", "Coverage", "ServiceRequest", "Condition", "Organization"):
        schema.first_error(resource_type, {"resourceType": resource_type})  # compiled before the clock starts
    ready.set()
    go.wait()
    started = time.perf_counter()
    for n, body in enumerate(bodies):
        note = orjson.loads(body)
        rows = []
        for entry in note["entry"]:
            resource = entry.get("resource") or {}
            rtype = resource.get("resourceType")
            if rtype == "SubscriptionStatus":
                continue
            if schema.first_error(rtype, resource) is not None:
                raise SystemExit(f"floor: {rtype} invalid")
            rows.append({"key": f"{tag}{n}/{rtype}/{resource.get('id')}", "body": resource})
        with engine.begin() as conn:
            conn.execute(insert(FLOOR), rows)
    out.put(time.perf_counter() - started)
    engine.dispose()


def floor_run(url: str, bodies: Sequence[bytes], processes: int, tag: str) -> float:
    """Wall seconds for ``processes`` floor processes to take ``bodies`` (split evenly)."""
    engine = make_engine(url)
    _META.create_all(engine)
    engine.dispose()
    go, out = CTX.Event(), CTX.Queue()
    readies = [CTX.Event() for _ in range(processes)]
    procs = [
        CTX.Process(target=_floor_main, args=(url, list(bodies[n::processes]), f"{tag}{n}-", readies[n], go, out))
        for n in range(processes)
    ]
    for p in procs:
        p.start()
    for r in readies:
        r.wait(60)
    started = time.perf_counter()
    go.set()
    for _ in procs:
        out.get(timeout=600)
    seconds = time.perf_counter() - started
    for p in procs:
        p.join(10)
    return seconds
