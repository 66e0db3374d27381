"""EHR metrics beside the process's :class:`~app.metrics.Metrics`: gaps found (``metrics.gaps``) and
repaired, and ``claimbridge_ehr_degraded{ehr}`` (1 when the EHR's last token lacked scopes we asked
for, read from the ``ehr`` table at scrape time so every process reports the same).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from app.db import ehr_repo
from app.db.engine import read_only
from app.metrics import Metrics

_repaired: weakref.WeakKeyDictionary[Metrics, Counter] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def gaps_repaired(metrics: Metrics) -> Counter:
    """``claimbridge_subscription_gaps_repaired_total{subscription, method}``, one per registry."""
    with _lock:
        counter = _repaired.get(metrics)
        if counter is None:
            counter = Counter(
                "claimbridge_subscription_gaps_repaired",
                "Subscription gaps repaired (events recovered, silence resolved)",
                ["subscription", "method"],
                registry=metrics.registry,
            )
            _repaired[metrics] = counter
        return counter


class _EhrCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with read_only(self._engine) as conn:
            records = ehr_repo.list_ehrs(conn)
        gauge = GaugeMetricFamily(
            "claimbridge_ehr_degraded", "1 when the EHR granted fewer SMART scopes than asked for", labels=["ehr"]
        )
        for record in records:
            gauge.add_metric([record.name], 1.0 if record.degraded else 0.0)
        yield gauge


def watch_ehrs(metrics: Metrics, engine: Engine) -> None:
    """Report each registered EHR's degraded state on ``/metrics``."""
    metrics.registry.register(_EhrCollector(engine))
