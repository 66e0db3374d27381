"""Eligibility in ``/metrics``: verifications by status (read at scrape time) and payer latency."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Engine

from app.db import eligibility_repo
from app.db.engine import read_only


class _StatusCollector(Collector):
    STATUSES = ("active", "inactive", "error", "unverified", "pending", "running", "skipped")

    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self._read()
        family = GaugeMetricFamily(
            "claimbridge_eligibility_checks", "Eligibility verifications by status", labels=["status"]
        )
        for status in sorted({*self.STATUSES, *counts}):
            family.add_metric([status], counts.get(status, 0))
        yield family


class EligibilityMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "claimbridge_eligibility_payer_seconds",
            "Time from sending a verification to the payer's answer (retries included)",
            ["payer", "source"],
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
        )
        self.results = Counter(
            "claimbridge_eligibility_results", "Verifications finished by this process", ["payer", "status"],
            registry=registry,
        )  # fmt: skip
        self._registry = registry

    def watch(self, engine: Engine) -> None:
        def read() -> dict[str, int]:
            with read_only(engine) as conn:
                return eligibility_repo.counts(conn)

        self._registry.register(_StatusCollector(read))
