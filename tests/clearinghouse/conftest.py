"""Fixtures for the clearinghouse tests: the service on each database with a settable clock, fed samples."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import SQLModel

from app.api.app import create_app
from app.db import claims_repo
from app.services import Services
from tests.spine.helpers import ADMIN, SECRET, make_services, notification, register, sample_bundles

ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
NOTIFY = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


class Clock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class Flow:
    services: Services
    client: TestClient
    clock: Clock
    tmp: Path

    @property
    def outbox_dir(self) -> Path:
        return self.services.settings.clearinghouse_outbox_dir

    @property
    def inbox_dir(self) -> Path:
        return self.services.settings.clearinghouse_inbox_dir

    def post_samples(self, count: int) -> None:
        for i, bundle in enumerate(sample_bundles(count), start=1):
            response = self.client.post("/notifications", content=orjson.dumps(notification(bundle, i)), headers=NOTIFY)
            assert response.status_code == 202

    def claims(self) -> dict[str, dict[str, Any]]:
        with self.services.engine.connect() as conn:
            return {c["id"]: c for c in claims_repo.list_claims(conn)}

    def api(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=ADMIN_AUTH)
        assert response.status_code == 200, response.text
        return response.json()

    def table_counts(self) -> dict[str, int]:
        """Rows per table: what an idempotent ingestion must leave unchanged."""
        with self.services.engine.connect() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in SQLModel.metadata.tables.items()
            }


@pytest.fixture
def flow(db_url: str, tmp_path: Path) -> Iterator[Flow]:
    """Services whose clock the test moves (a non-UTC business day, mid-afternoon)."""
    clock = Clock(datetime(2026, 11, 20, 20, 30, tzinfo=UTC))  # in the past: CLI runs use the real clock
    services = make_services(
        db_url, tmp_path, clock=clock.now, clearinghouse={"submit_interval_seconds": 300, "poll_interval_seconds": 60}
    )
    register(services, sub_id="claimbridge-demo")
    with TestClient(create_app(services)) as client:
        yield Flow(services, client, clock, tmp_path)
    services.close()
