"""``claimbridge_prior_auth_alerts{state}`` on ``/metrics``: alerts by state, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from app.db import priorauth_repo
from app.db.engine import read_only
from app.metrics import Metrics


class AlertCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with read_only(self.engine) as conn:
            counts = priorauth_repo.counts(conn)
        family = GaugeMetricFamily(
            "claimbridge_prior_auth_alerts", "Prior-authorization alerts by state", labels=["state"]
        )
        for state in priorauth_repo.STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family


def watch_alerts(metrics: Metrics, engine: Engine) -> None:
    metrics.registry.register(AlertCollector(engine))
