"""The composition root: settings in, wired components out, built once and closed once.

:func:`build_services` reads the configuration files, builds the adapters (unknown names fail at
start-up), opens the engine and migrates it; :func:`build_worker` wires the one
:class:`~app.worker.runner.Worker` from them with explicit collaborators. :meth:`Services.close`
(called by the app lifespan's owner and by every CLI command) closes the EHR gateway's HTTP clients
and loop thread, the adapters' clients and the engine's pool. :func:`services_of` gives a request's
handler the services of its app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from app.adapters.base import Adapter
from app.adapters.ehr import bind_ehr_adapters, ehr_scopes
from app.adapters.registry import build_adapters, build_response_source
from app.billing.records import RevenueBook
from app.billing.snapshot import BillingSnapshots
from app.config.clearinghouse import ClearinghouseConfig, load_clearinghouse
from app.config.loader import ClaimConfig, load_config
from app.credentials import SecretKeys
from app.db import billing_repo, billing_views, claims_repo, intake_repo, migrate, outbox_repo, queue_repo
from app.db.engine import make_engine, read_only
from app.db.sql import utcnow
from app.domain.tenancy import DEFAULT_EHR
from app.ehr.gateway import EhrGateway
from app.ehr.metrics import watch_ehrs
from app.ehr.recovery import Sweeper
from app.eligibility.batch import apply_271, batch_channel
from app.eligibility.clearinghouse import check_transports, realtime_from
from app.eligibility.duty import EligibilityDuty
from app.eligibility.metrics import EligibilityMetrics
from app.eligibility.port import EligibilityPort
from app.eligibility.runner import EligibilityRunner
from app.metrics import BillingSnapshot, Metrics, QueueSnapshot
from app.priorauth.alerts import rules_for
from app.priorauth.metrics import watch_alerts
from app.priorauth.reevaluate import PriorAuthReevaluator
from app.priorauth.submit import DESTINATION as PAS_DESTINATION
from app.priorauth.submit import PasAdapter, PasInquirer
from app.retry import RetryPolicy
from app.settings import Settings
from app.ssrf import outbound_policy
from app.worker.clearinghouse import ClearinghouseCycle
from app.worker.duties import DUTY_NAMES
from app.worker.expansion import InboxExpander
from app.worker.ingest import Ingester
from app.worker.outbox import OutboxDispatcher
from app.worker.pipeline import Runtime, reevaluate
from app.worker.prefetch import prefetch_batch
from app.worker.quarantine import quarantine_snapshot
from app.worker.remit import RemittancePoster
from app.worker.runner import Duty, Worker
from app.worker.submit import Submitter

if TYPE_CHECKING:  # the worker never imports the web framework (tests/test_startup_imports.py)
    from starlette.requests import Request

EVENTS_DESTINATION = "events"

#: How the EHR gateway is made from the engine (tests and benchmarks inject a transport).
GatewayFactory = Callable[[Engine, Settings], EhrGateway]


def default_gateway(engine: Engine, settings: Settings) -> EhrGateway:
    return EhrGateway(
        engine=engine,
        settings=settings.ehr,
        scopes=ehr_scopes(settings),
        outbound=outbound_policy(settings),
        keys=SecretKeys(settings.security.secret_key.get_secret_value()),
    )


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    config: ClaimConfig
    clearing: ClearinghouseConfig
    adapters: dict[str, Adapter]
    gateway: EhrGateway  # calls to registered EHRs; opens nothing until first used
    runtime: Runtime
    clock: Callable[[], datetime] = utcnow
    metrics: Metrics = field(default_factory=Metrics)
    billing: BillingSnapshots | None = None
    eligibility: EligibilityRunner | None = None  # real-time eligibility calls, on their own loop thread
    eligibility_metrics: EligibilityMetrics | None = None

    def submitter(self) -> Submitter:
        """The batch submitter (ready claims → one 837P) of the worker and ``claimbridge x12 submit``."""
        return Submitter(
            engine=self.engine,
            clearing=self.clearing,
            payers=self.config.payers,
            settings=self.settings.clearinghouse,
            clock=self.clock,
            destination=self.runtime.clearinghouse_destination,
        )

    def ingester(self) -> Ingester:
        """The inbound X12 ingester of the worker's poller and ``claimbridge x12 ingest``."""
        poster = RemittancePoster(payers=self.config.payers, clearing=self.clearing)
        runtime = self.runtime
        answers = partial(
            apply_271, destination_for=lambda ehr: runtime.writeback_for(None if ehr == DEFAULT_EHR else ehr)
        )
        return Ingester(engine=self.engine, poster=poster, writeback_for=runtime.writeback_for, clock=self.clock,
                        eligibility=lambda conn, text, now: answers(conn, text, now=now))  # fmt: skip

    def worker(self, *, worker_id: str = "", duties: frozenset[str] | None = None) -> Worker:
        return build_worker(self, worker_id=worker_id, duties=duties)

    def billing_snapshot(self) -> BillingSnapshot:
        """The KPIs and work queues for ``/metrics``: computed at most once per ``api.billing_metrics_seconds``."""
        assert self.billing is not None
        return self.billing.get()

    def queue_snapshot(self) -> QueueSnapshot:
        with read_only(self.engine) as conn:
            stats = queue_repo.queue_stats(conn)
            outbox = outbox_repo.counts(conn)
            findings = claims_repo.finding_counts(conn)
            inbox = intake_repo.inbox_counts(conn)
        age = (self.clock() - stats.oldest_pending_at).total_seconds() if stats.oldest_pending_at else 0.0
        return QueueSnapshot(
            stats.pending,
            stats.dead,
            max(age, 0.0),
            outbox.get("pending", 0),
            findings,
            inbox_pending=inbox.get("pending", 0),
            inbox_dead=inbox.get("dead", 0),
            outbox_dead=outbox.get("dead", 0),
        )

    def close(self) -> None:
        """Close the EHR clients and loop thread, the adapters' HTTP clients and the database pool."""
        self.gateway.close()
        if self.eligibility is not None:
            self.eligibility.close()
        for adapter in self.adapters.values():
            close = getattr(adapter, "close", None)
            if callable(close):
                close()
        self.engine.dispose()


def services_of(request: Request) -> Services:
    """The services an app was built with (``app.state.services``, :func:`app.api.app.create_app`):
    the one accessor of the API routes and the web pages alike."""
    services: Services = request.app.state.services
    return services


def build_services(
    settings: Settings,
    *,
    upgrade: bool = True,
    clock: Callable[[], datetime] = utcnow,
    gateway: GatewayFactory = default_gateway,
) -> Services:
    """Engine, migrations (to head), configuration files, adapters, metrics; fails loudly on any problem."""
    config = load_config(settings.config_dir, refdata_dirs=[settings.refdata_dir])
    clearing = load_clearinghouse(settings.config_dir)
    adapters = build_adapters(settings)  # unknown adapter names fail at start-up, not at first delivery
    realtime = realtime_from(settings, clearing)  # the clearinghouse's 270/271 channel, if it has one
    check_transports(config.payers.profiles.values(), realtime, str(settings.config_dir / "payers"))
    if settings.relay.nats_url:  # outbox destination ``events``: relayed to NATS JetStream (docs/deploy.md)
        from app.relay.nats import NatsRelay  # lazy: the NATS client is imported only when a relay is configured

        adapters[EVENTS_DESTINATION] = NatsRelay(name=EVENTS_DESTINATION, settings=settings.relay)
    engine = make_engine(settings.database_url)
    if upgrade:
        migrate.upgrade(
            engine,
            keys=SecretKeys(settings.security.secret_key.get_secret_value()),
            lock_wait=settings.migration_lock_wait_seconds,
        )
    runtime = Runtime(
        config=config,
        clock=clock,
        writeback_per_ehr=settings.adapters.writeback == "ehr",
        events_destination=EVENTS_DESTINATION if settings.relay.nats_url else None,
    )
    adapters[PAS_DESTINATION] = PasAdapter(
        engine=engine, payers=config.payers, clock=clock, writeback=runtime.writeback_for(settings.ehr.writeback_ehr)
    )
    metrics = Metrics()
    eligibility_metrics = EligibilityMetrics(metrics.registry)
    services = Services(
        settings=settings,
        engine=engine,
        config=config,
        clearing=clearing,
        adapters=adapters,
        gateway=gateway(engine, settings),
        runtime=runtime,
        clock=clock,
        billing=BillingSnapshots(lambda: read_billing(engine), clock, settings.api.billing_metrics_seconds),
        metrics=metrics,
        eligibility=EligibilityRunner(
            EligibilityPort(clock=clock, clearinghouse=realtime, control_numbers=partial(control_number, engine))
        ),
        eligibility_metrics=eligibility_metrics,
    )
    eligibility_metrics.watch(engine)
    services.metrics.watch_queue(services.queue_snapshot)
    services.metrics.watch_billing(services.billing_snapshot)
    watch_ehrs(services.metrics, engine)
    watch_alerts(services.metrics, engine)
    services.metrics.watch_quarantine(lambda: quarantine_snapshot(engine))
    return services


def control_number(engine: Engine) -> int:
    """The next interchange control number (ISA13), in its own short transaction (never across a call)."""
    with engine.begin() as conn:
        return billing_repo.next_control_number(conn)


def read_billing(engine: Engine) -> tuple[RevenueBook, dict[str, Any]]:
    """The revenue book and open-queue counts behind the billing snapshot (one read-only transaction)."""
    with read_only(engine) as conn:
        return billing_views.revenue_book(conn), billing_views.billing_counts(conn)


def build_worker(services: Services, *, worker_id: str = "", duties: frozenset[str] | None = None) -> Worker:
    """The worker of ``claimbridge worker``/``serve``: jobs with EHR prefetch, then its periodic duties.

    ``duties``: the names (:data:`app.worker.duties.DUTY_NAMES`) this process runs; None: all of them.
    """
    settings, engine, clock, gateway = services.settings, services.engine, services.clock, services.gateway
    sweeper = Sweeper(engine=engine, gateway=gateway, settings=settings.ehr, metrics=services.metrics, clock=clock)
    cycle = ClearinghouseCycle(
        submitter=services.submitter(),
        ingester=services.ingester(),
        source=build_response_source(settings, services.adapters),
        settings=settings.clearinghouse,
        clock=clock,
    )
    outbox = OutboxDispatcher(
        engine=engine,
        adapters=bind_ehr_adapters(services.adapters, gateway),
        policy=RetryPolicy(settings.outbox.max_attempts, 1.0, settings.outbox.backoff_cap_seconds),
        metrics=services.metrics,
        clock=clock,
        settings=settings.outbox,
    )
    inquirer = PasInquirer(engine=engine, rules=rules_for(services.config), clock=clock)
    runtime = services.runtime
    authorized = PriorAuthReevaluator(
        engine=engine,
        reevaluate=lambda conn, encounters, now, ehr: reevaluate(conn, encounters, runtime=runtime, now=now, ehr=ehr),
        clock=clock,
    )
    # the expansion first: jobs of the notifications acknowledged so far exist before the gap sweep looks
    expander = InboxExpander(engine=engine, metrics=services.metrics, batch_size=settings.worker.expand_batch_size)
    named: list[tuple[str, Callable[[], Duty]]] = [
        ("expansion", lambda: expander),
        ("ehr-recovery", lambda: sweeper),
        ("clearinghouse", lambda: cycle),
        ("eligibility", lambda: eligibility_duty(services)),
        ("outbox", lambda: outbox),
        ("priorauth-inquiry", lambda: inquirer),
        ("priorauth-reevaluation", lambda: authorized),
    ]
    chosen = frozenset(DUTY_NAMES) if duties is None else duties
    return Worker(
        engine=engine,
        runtime=services.runtime,
        settings=settings.worker,
        metrics=services.metrics,
        prefetch=lambda jobs, now: prefetch_batch(
            engine, jobs, gateway=gateway, now=now, parsed=services.runtime.parsed
        ),
        duties=[make() for name, make in named if name in chosen],
        worker_id=worker_id,
        jobs="jobs" in chosen,
    )


def eligibility_duty(services: Services) -> EligibilityDuty:
    """The worker's real-time eligibility duty (due checks out, answers in, claims re-evaluated)."""
    runtime = services.runtime
    assert services.eligibility is not None
    return EligibilityDuty(
        engine=services.engine,
        runner=services.eligibility,
        payers=services.config.payers,
        clock=services.clock,
        reevaluate=lambda conn, encounters, now, ehr: reevaluate(conn, encounters, runtime=runtime, now=now, ehr=ehr),
        writeback=runtime.writeback_destination,
        writeback_for=lambda ehr: runtime.writeback_for(None if ehr == DEFAULT_EHR else ehr),
        metrics=services.eligibility_metrics,
        busy=lambda: work_waiting(services.engine),
        requested=runtime.requested,
        parsed=runtime.parsed,
        batch=batch_channel(services.settings, services.clearing, runtime.clearinghouse_destination),
    )


def work_waiting(engine: Engine) -> bool:
    """The eligibility duty's "busy": jobs wait, or inbox rows not expanded into jobs yet (they are jobs soon)."""
    with read_only(engine) as conn:
        return queue_repo.work_waiting(conn)
