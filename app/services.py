"""The composition root: settings in, wired components out. Read once, injected everywhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from app.adapters.registry import build_adapters
from app.config.loader import ClaimConfig, load_config
from app.db import claims_repo, migrate, outbox_repo, queue_repo
from app.db.engine import make_engine
from app.db.sql import utcnow
from app.ehr.gateway import EhrGateway
from app.metrics import Metrics, QueueSnapshot
from app.settings import Settings
from app.worker.pipeline import Runtime
from app.worker.runner import Worker


@dataclass
class Services:
    settings: Settings
    engine: Engine
    config: ClaimConfig
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = utcnow
    ehr: EhrGateway | None = None  # calls to registered EHRs; created on first use

    def runtime(self) -> Runtime:
        return Runtime(
            config=self.config, clock=self.clock, writeback_per_ehr=self.settings.adapters.writeback == "ehr"
        )

    def ehr_gateway(self) -> EhrGateway:
        if self.ehr is None:
            self.ehr = EhrGateway(engine=self.engine, settings=self.settings.ehr)
        return self.ehr

    def worker(self, *, worker_id: str = "") -> Worker:
        from app.ehr.worker import build_worker  # the worker wires EHR calls, gap sweep and outbox

        return build_worker(self, worker_id=worker_id)

    def queue_snapshot(self) -> QueueSnapshot:
        with self.engine.connect() as conn:
            stats = queue_repo.queue_stats(conn)
            outbox = outbox_repo.counts(conn)
            findings = claims_repo.finding_counts(conn)
        age = (self.clock() - stats.oldest_pending_at).total_seconds() if stats.oldest_pending_at else 0.0
        return QueueSnapshot(stats.pending, stats.dead, max(age, 0.0), outbox.get("pending", 0), findings)


def build_services(settings: Settings, *, upgrade: bool = True) -> Services:
    """Engine, migrations (to head), configuration files, metrics; fails loudly on any problem."""
    config = load_config(settings.config_dir, refdata_dirs=[settings.refdata_dir])
    build_adapters(settings)  # unknown adapter names fail at start-up, not at first delivery
    engine = make_engine(settings.database_url)
    if upgrade:
        migrate.upgrade(engine)
    services = Services(settings=settings, engine=engine, config=config)
    services.metrics.watch_queue(services.queue_snapshot)
    return services
