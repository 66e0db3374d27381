"""/metrics reads the billing KPIs (every submitted claim) at most once per configured interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.spine.helpers import make_services

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_billing_snapshot_is_reused_within_the_interval_and_recomputed_after(db_url: str, tmp_path: Path) -> None:
    now = [T0]
    services = make_services(db_url, tmp_path, clock=lambda: now[0])  # api.billing_metrics_seconds: the default, 60
    first = services.billing_snapshot()
    now[0] = T0 + timedelta(seconds=59)
    assert services.billing_snapshot() is first
    now[0] = T0 + timedelta(seconds=60)
    assert services.billing_snapshot() is not first
    services.close()
