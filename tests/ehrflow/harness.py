"""The real service (API + worker) wired to the in-process test EHR over ASGI transports (no sockets).

One shared clock drives both sides (the EHR's epoch seconds, our datetimes), so tokens expire,
heartbeats go silent and backoffs elapse only when a test advances it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from app.adapters.ehr import ehr_scopes
from app.api.app import create_app
from app.db import claims_repo, ehr_repo, subscriptions_repo
from app.db.ehr_repo import EhrRecord
from app.db.models import Job
from app.ehr.discovery import discover, learn_topics
from app.ehr.gateway import EhrGateway
from app.ehr.provision import CreatedSubscription, create_subscriptions
from app.fhir.keys import generate_keys
from app.services import Services, build_services
from app.settings import Settings
from app.worker.runner import Worker
from tests.ehr.server import EhrServer
from tests.spine.helpers import ADMIN, ROOT, clone_bundle, expand, sample_bundles

ENDPOINT = "https://claimbridge.test/notifications"
CLIENT_ID = "claimbridge"
EHR_NAME = "main"


@dataclass
class Clock:
    t: float = field(default_factory=lambda: float(int(time.time())))

    def epoch(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Sleeps:
    """The FHIR clients' ``sleep``: records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class Flow:
    services: Services
    ehr: EhrServer
    clock: Clock
    sleeps: Sleeps
    notifier: httpx.AsyncClient
    subscriptions: dict[str, CreatedSubscription] = field(default_factory=dict)
    _worker: Worker | None = None

    @property
    def worker(self) -> Worker:
        if self._worker is None:
            self._worker = self.services.worker(worker_id="w")
        return self._worker

    def sub(self, resource_type: str) -> str:
        return self.subscriptions[resource_type].id

    def settle(self, *, rounds: int = 20, step: float = 600.0) -> None:
        """Run the worker until no job is pending, advancing the clock past each backoff."""
        for _ in range(rounds):
            self.worker.drain()
            if self.pending() == 0:
                return
            self.clock.advance(step)
        raise AssertionError(f"{self.pending()} job(s) still pending")

    def pending(self) -> int:
        with self.services.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Job).where(Job.status == "pending")).scalar_one())

    def jobs(self) -> list[Any]:
        """The jobs of every notification acknowledged so far (the worker's expansion duty run first)."""
        expand(self.services.engine)
        with self.services.engine.connect() as conn:
            return list(conn.execute(select(Job).order_by(Job.id)).all())

    def claims(self) -> list[dict[str, Any]]:
        with self.services.engine.connect() as conn:
            return claims_repo.list_claims(conn, limit=10_000)

    def subscription_row(self, subscription_id: str) -> dict[str, Any]:
        with self.services.engine.connect() as conn:
            return next(s for s in subscriptions_repo.list_subscriptions(conn) if s["id"] == subscription_id)

    def set_supports_events(self, value: bool) -> None:
        with self.services.engine.begin() as conn:
            record = ehr_repo.get_ehr(conn, EHR_NAME)
            assert record is not None
            ehr_repo.add_ehr(conn, EhrRecord(**{**record.__dict__, "supports_events": value}), now=self.clock.now())
        gateway = self.services.gateway
        gateway.connection(EHR_NAME).record = EhrRecord(
            **{**gateway.record(EHR_NAME).__dict__, "supports_events": value}
        )

    async def seed_encounter(self, index: int, suffix: str, *, notify: bool = True) -> dict[str, Any]:
        """A sample encounter's resources in the EHR under new ids; saving the Encounter notifies."""
        bundle = clone_bundle(sample_bundles(index + 1)[index], suffix)
        resources = [e["resource"] for e in bundle["entry"]]
        encounter = next(r for r in resources if r["resourceType"] == "Encounter" and "-hist-" not in r["id"])
        self.ehr.seed(*[r for r in resources if r is not encounter])
        if notify:
            return await self.ehr.save(encounter)
        return self.ehr.seed(encounter)[0]


def flow_settings(db_url: str, tmp: Path, *, config_dir: Path | None = None, **sections: Any) -> Settings:
    base: dict[str, Any] = {
        "ehr": {"sweep_interval_seconds": 0, "gap_grace_seconds": 0, "fetch_attempts": 1, "writeback_attempts": 1},
        "adapters": {"out_dir": str(tmp / "out")},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return Settings(
        env="test",
        database_url=db_url,
        config_dir=config_dir or ROOT / "config",
        refdata_dir=tmp / "refdata",
        api={"admin_token": ADMIN},
        **base,
    )


@asynccontextmanager
async def running_flow(
    db_url: str,
    tmp: Path,
    *,
    content: str = "id-only",
    heartbeat: int | None = None,
    plain: bool = False,
    subscribe: bool = True,
    handshake_later: bool = False,
    config_dir: Path | None = None,
    **sections: Any,
) -> AsyncIterator[Flow]:
    clock, sleeps = Clock(), Sleeps()

    def gateway(engine: Engine, settings: Settings) -> EhrGateway:
        return EhrGateway(
            engine=engine,
            settings=settings.ehr,
            transport=lambda _record: httpx.ASGITransport(app=ehr.app),  # the test EHR, created below
            sleep=sleeps,
            auth_clock=clock.epoch,
            scopes=ehr_scopes(settings),
        )

    settings = flow_settings(db_url, tmp, config_dir=config_dir, **sections)
    services = build_services(settings, clock=clock.now, gateway=gateway)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services))) as notifier:
        ehr = EhrServer(notifier=notifier, clock=clock.epoch)
        ehr.hub.handshake_later = handshake_later
        private, jwks = generate_keys(tmp / "keys", "ES384")
        ehr.register_client(CLIENT_ID, json.loads(jwks.read_text()))
        flow = Flow(services, ehr, clock, sleeps, notifier)
        try:
            await register_ehr(flow, private)
            created = (
                []
                if not subscribe
                else create_subscriptions(
                    services.engine,
                    services.gateway,
                    ehr=EHR_NAME,
                    endpoint=ENDPOINT,
                    content=content,  # type: ignore[arg-type]
                    plain=plain,
                    heartbeat=heartbeat,
                    now=clock.now(),
                )
            )
            flow.subscriptions = {c.resource_type: c for c in created}
            yield flow
        finally:
            services.close()


async def register_ehr(flow: Flow, private: Path) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=flow.ehr.app)) as http:
        caps = await discover(http, flow.ehr.base_url)
    record = EhrRecord(
        name=EHR_NAME,
        base_url=flow.ehr.base_url,
        auth="smart-backend",
        client_id=CLIENT_ID,
        key_path=str(private),
        supports_events=caps.supports_events,
        plain_criteria=False,
        topics={},
    )
    with flow.services.engine.begin() as conn:
        ehr_repo.add_ehr(conn, record, now=flow.clock.now())
    report = learn_topics(flow.services.gateway, EHR_NAME, caps)  # what `claimbridge ehrs add` does
    with flow.services.engine.begin() as conn:
        ehr_repo.set_topics(conn, EHR_NAME, report.topics)
