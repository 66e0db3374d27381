"""The billing figures ``/metrics`` exports: KPIs of the last 30 days and the open work queues.

Pure over what a loader returns (the revenue book and the open-queue counts; the composition root
wires the database read). Reading them scans every submitted claim, so :class:`BillingSnapshots`
recomputes at most once per ``api.billing_metrics_seconds`` and hands out the cached one between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from app.billing.kpis import kpi_table, kpi_values
from app.billing.records import RevenueBook
from app.metrics import BillingSnapshot

KPI_WINDOW_DAYS = 30

#: Reads the revenue book and the open-queue counts (denials, underpayments, ...).
BillingLoader = Callable[[], tuple[RevenueBook, Mapping[str, Any]]]


def billing_snapshot_of(book: RevenueBook, counts: Mapping[str, Any], *, today: date) -> BillingSnapshot:
    """KPIs of the last :data:`KPI_WINDOW_DAYS` days (all payers and each payer) and open work queues."""
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


@dataclass
class BillingSnapshots:
    """The latest snapshot, recomputed when older than ``max_age_seconds``."""

    load: BillingLoader
    clock: Callable[[], datetime]
    max_age_seconds: float
    _latest: tuple[datetime, BillingSnapshot] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self) -> BillingSnapshot:
        now = self.clock()
        with self._lock:
            latest = self._latest
            if latest is not None and (now - latest[0]).total_seconds() < self.max_age_seconds:
                return latest[1]
            book, counts = self.load()
            snapshot = billing_snapshot_of(book, counts, today=now.date())
            self._latest = (now, snapshot)
            return snapshot
