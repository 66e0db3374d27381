"""Prometheus metrics. One :class:`Metrics` per process, on its own registry (tests make many).

Counters count what this process did; queue depth and oldest pending age are read from the
database at scrape time, so they are right whichever process does the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class QueueSnapshot:
    pending: int
    dead: int
    oldest_pending_age_seconds: float
    outbox_pending: int
    findings_by_category: dict[tuple[str, str], int]
    inbox_pending: int = 0  # notifications acknowledged, not yet expanded into jobs
    inbox_dead: int = 0  # inbox rows whose expansion failed (their reason in ``inbox.last_error``)
    outbox_dead: int = 0  # deliveries that failed for good (``claimbridge outbox dead``)


class _QueueCollector(Collector):
    def __init__(self, read: Callable[[], QueueSnapshot]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._read()
        yield GaugeMetricFamily("claimbridge_queue_depth", "Jobs waiting to be processed", value=snap.pending)
        yield GaugeMetricFamily("claimbridge_dead_letters", "Jobs in the dead-letter state", value=snap.dead)
        yield GaugeMetricFamily(
            "claimbridge_oldest_pending_age_seconds",
            "Age of the oldest pending job",
            value=snap.oldest_pending_age_seconds,
        )
        yield GaugeMetricFamily("claimbridge_outbox_pending", "Deliveries waiting", value=snap.outbox_pending)
        yield GaugeMetricFamily("claimbridge_outbox_dead", "Deliveries that failed for good", value=snap.outbox_dead)
        yield GaugeMetricFamily(
            "claimbridge_inbox_pending", "Notifications acknowledged, not yet expanded", value=snap.inbox_pending
        )
        yield GaugeMetricFamily("claimbridge_inbox_dead", "Inbox rows whose expansion failed", value=snap.inbox_dead)
        findings = GaugeMetricFamily(
            "claimbridge_findings", "Findings on current claim versions", labels=["category", "severity"]
        )
        for (category, severity), n in sorted(snap.findings_by_category.items()):
            findings.add_metric([category, severity], n)
        yield findings


@dataclass(frozen=True)
class BillingSnapshot:
    """Revenue-cycle figures read from the database at scrape time."""

    kpis: dict[tuple[str, str], float]  # (kpi, payer or "all") -> value, trailing window
    window_days: int
    open_denials: dict[tuple[str, str], int]  # (category, payer) -> open entries
    open_underpayments: int
    unmatched_payments: int
    unbalanced_remittances: int  # 835 transactions whose payment != claims paid - PLB adjustments


class _BillingCollector(Collector):
    def __init__(self, read: Callable[[], BillingSnapshot]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._read()
        kpis = GaugeMetricFamily(
            "claimbridge_kpi",
            f"Revenue-cycle KPIs over the last {snap.window_days} days (ratios 0-1, days, dollars)",
            labels=["kpi", "payer"],
        )
        for (kpi, payer), value in sorted(snap.kpis.items()):
            kpis.add_metric([kpi, payer], value)
        yield kpis
        denials = GaugeMetricFamily(
            "claimbridge_denials_open", "Open denial-queue entries", labels=["category", "payer"]
        )
        for (category, payer), n in sorted(snap.open_denials.items()):
            denials.add_metric([category, payer], n)
        yield denials
        yield GaugeMetricFamily(
            "claimbridge_underpayment_alerts_open", "Open underpayment alerts", value=snap.open_underpayments
        )
        yield GaugeMetricFamily(
            "claimbridge_unmatched_claim_payments",
            "835 claim payments matching no claim",
            value=snap.unmatched_payments,
        )
        yield GaugeMetricFamily(
            "claimbridge_remittances_unbalanced",
            "835 transactions whose payment is not the claims paid less the PLB adjustments",
            value=snap.unbalanced_remittances,
        )


@dataclass(frozen=True)
class QuarantineSnapshot:
    """What keeps failing, read from the database at scrape time (every worker writes the same rows)."""

    files: dict[str, int]  # source (folder, http) -> quarantined inbound files
    stopped_recoveries: int  # subscription gaps whose recovery stopped


class _QuarantineCollector(Collector):
    SOURCES = ("folder", "http")

    def __init__(self, read: Callable[[], QuarantineSnapshot]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._read()
        files = GaugeMetricFamily(
            "claimbridge_x12_quarantined_files",
            "Inbound X12 files quarantined after repeated ingestion failures",
            labels=["source"],
        )
        for source in sorted({*self.SOURCES, *snap.files}):
            files.add_metric([source], snap.files.get(source, 0))
        yield files
        yield GaugeMetricFamily(
            "claimbridge_subscription_recoveries_stopped",
            "Subscription gaps whose recovery failed too often and was stopped",
            value=snap.stopped_recoveries,
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.notifications = Counter(
            "claimbridge_notifications_received", "Notifications received", ["type"], registry=r
        )
        self.notifications_rejected = Counter(
            "claimbridge_notifications_rejected", "Notifications refused", ["reason"], registry=r
        )
        self.jobs_processed = Counter("claimbridge_jobs_processed", "Jobs finished", ["result"], registry=r)
        self.jobs_retried = Counter("claimbridge_jobs_retried", "Job attempts that will be retried", registry=r)
        self.jobs_dead = Counter("claimbridge_jobs_dead_lettered", "Jobs moved to dead letters", registry=r)
        self.inbox_expanded = Counter(
            "claimbridge_inbox_expanded", "Inbox rows expanded into jobs by the worker", ["result"], registry=r
        )
        self.latency = Histogram(
            "claimbridge_processing_seconds",
            "Time to process one job",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.deliveries = Counter(
            "claimbridge_outbox_deliveries", "Outbox deliveries", ["destination", "result"], registry=r
        )
        self.gaps = Counter("claimbridge_subscription_gaps", "Event-number gaps detected", ["subscription"], registry=r)
        self._received: dict[str, Any] = {}  # notification type -> its counter child (``labels`` is ~2 us a call)

    def count_received(self, kind: str) -> None:
        """One notification of this type acknowledged (the per-request path: the child is looked up once)."""
        child = self._received.get(kind)
        if child is None:
            child = self._received[kind] = self.notifications.labels(type=kind)
        child.inc()

    def watch_queue(self, read: Callable[[], QueueSnapshot]) -> None:
        self.registry.register(_QueueCollector(read))

    def watch_billing(self, read: Callable[[], BillingSnapshot]) -> None:
        self.registry.register(_BillingCollector(read))

    def watch_quarantine(self, read: Callable[[], QuarantineSnapshot]) -> None:
        self.registry.register(_QuarantineCollector(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)
