"""The composition root: settings in, wired components out. Read once, injected everywhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Engine

from app.adapters.registry import build_adapters
from app.billing.kpis import kpi_table, kpi_values
from app.config.clearinghouse import ClearinghouseConfig, load_clearinghouse
from app.config.loader import ClaimConfig, load_config
from app.db import billing_views, claims_repo, migrate, outbox_repo, queue_repo
from app.db.engine import make_engine, read_only
from app.db.sql import utcnow
from app.ehr.gateway import EhrGateway
from app.metrics import BillingSnapshot, Metrics, QueueSnapshot
from app.settings import Settings
from app.worker.ingest import Ingester
from app.worker.pipeline import Runtime
from app.worker.quarantine import quarantine_snapshot
from app.worker.remit import RemittancePoster
from app.worker.runner import Worker
from app.worker.submit import Submitter


@dataclass
class Services:
    settings: Settings
    engine: Engine
    config: ClaimConfig
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = utcnow
    ehr: EhrGateway | None = None  # calls to registered EHRs; created on first use
    clearing: ClearinghouseConfig | None = None  # config/clearinghouse.yaml, read at start-up
    _billing: tuple[datetime, BillingSnapshot] | None = field(default=None, repr=False)

    def clearinghouse(self) -> ClearinghouseConfig:
        if self.clearing is None:
            self.clearing = load_clearinghouse(self.settings.config_dir)
        return self.clearing

    def submitter(self) -> Submitter:
        """The batch submitter (ready claims → one 837P) of the worker and ``claimbridge x12 submit``."""
        return Submitter(
            engine=self.engine,
            clearing=self.clearinghouse(),
            payers=self.config.payers,
            settings=self.settings.clearinghouse,
            clock=self.clock,
            destination=self.runtime().clearinghouse_destination,
        )

    def ingester(self) -> Ingester:
        """The inbound X12 ingester of the worker's poller and ``claimbridge x12 ingest``."""
        poster = RemittancePoster(payers=self.config.payers, clearing=self.clearinghouse())
        return Ingester(engine=self.engine, poster=poster, writeback_for=self.runtime().writeback_for, clock=self.clock)

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

    def billing_snapshot(self) -> BillingSnapshot:
        """The KPIs and work queues for ``/metrics``: computed at most once per ``api.billing_metrics_seconds``."""
        now = self.clock()
        cached = self._billing
        if cached is not None and (now - cached[0]).total_seconds() < self.settings.api.billing_metrics_seconds:
            return cached[1]
        snapshot = billing_snapshot_of(self.engine, today=now.date())
        self._billing = (now, snapshot)
        return snapshot

    def queue_snapshot(self) -> QueueSnapshot:
        with read_only(self.engine) as conn:
            stats = queue_repo.queue_stats(conn)
            outbox = outbox_repo.counts(conn)
            findings = claims_repo.finding_counts(conn)
        age = (self.clock() - stats.oldest_pending_at).total_seconds() if stats.oldest_pending_at else 0.0
        return QueueSnapshot(stats.pending, stats.dead, max(age, 0.0), outbox.get("pending", 0), findings)


KPI_WINDOW_DAYS = 30


def billing_snapshot_of(engine: Engine, *, today: date) -> BillingSnapshot:
    """KPIs of the last :data:`KPI_WINDOW_DAYS` days (all payers and each payer) and open work queues."""
    with read_only(engine) as conn:
        book = billing_views.revenue_book(conn)
        counts = billing_views.billing_counts(conn)
    start = today - timedelta(days=KPI_WINDOW_DAYS - 1)
    kpis: dict[tuple[str, str], float] = {}
    for row in kpi_table(book, periods=[(start, today)], as_of=today):
        for name, value in kpi_values(row).items():
            kpis[(name, row.payer_id or "all")] = value
    return BillingSnapshot(
        kpis,
        KPI_WINDOW_DAYS,
        counts["denials"],
        counts["underpayments"],
        counts["unmatched_payments"],
        counts["unbalanced_remittances"],
    )


def build_services(settings: Settings, *, upgrade: bool = True) -> Services:
    """Engine, migrations (to head), configuration files, metrics; fails loudly on any problem."""
    config = load_config(settings.config_dir, refdata_dirs=[settings.refdata_dir])
    clearing = load_clearinghouse(settings.config_dir)
    build_adapters(settings)  # unknown adapter names fail at start-up, not at first delivery
    engine = make_engine(settings.database_url)
    if upgrade:
        migrate.upgrade(engine)
    services = Services(settings=settings, engine=engine, config=config, clearing=clearing)
    services.metrics.watch_queue(services.queue_snapshot)
    services.metrics.watch_billing(services.billing_snapshot)
    services.metrics.watch_quarantine(lambda: quarantine_snapshot(engine))
    return services
