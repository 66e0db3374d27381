"""Gap metrics beside the process's :class:`~app.metrics.Metrics`: found (``metrics.gaps``) and repaired."""

from __future__ import annotations

import threading
import weakref

from prometheus_client import Counter

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
