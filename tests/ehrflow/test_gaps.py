"""Gap detection and recovery with the real worker: lost notifications, silence, stopped subscriptions."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
from sqlalchemy import func, select

from app.db import ehr_repo
from app.db.models import ClaimVersion
from app.ehr.recovery import Sweeper
from app.fhir.notifications_build import build_notification_bundle
from tests.ehrflow.harness import Flow, running_flow

FHIR = {"Content-Type": "application/fhir+json"}


def sample(flow: Flow, name: str, **labels: str) -> float:
    value = flow.services.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def save_encounters(flow: Flow, count: int) -> list[dict]:
    return [await flow.seed_encounter(i % 8, f"g{i}") for i in range(count)]


async def redeliver(flow: Flow, subscription_id: str, numbers: range) -> list[int]:
    """The EHR's original notifications for ``numbers``, arriving late; returns the HTTP statuses."""
    channel = flow.ehr.hub.channels[subscription_id]
    headers = {**FHIR, **channel.headers}
    statuses = []
    for event in channel.events:
        if event.number in numbers:
            bundle = build_notification_bundle(
                flow.ehr.hub.state(subscription_id),
                notification_type="event-notification",
                timestamp=event.timestamp,
                events=[event],
                content="id-only",
            )
            response = await flow.notifier.post(channel.endpoint, content=orjson.dumps(bundle), headers=headers)
            statuses.append(response.status_code)
    return statuses


def versions(flow: Flow) -> int:
    with flow.services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ClaimVersion)).scalar_one())


async def test_lost_notifications_5_to_9_are_recovered_through_events(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        sid = flow.sub("Encounter")
        flow.ehr.drop_notifications(sid, 5, 9)
        encounters = await save_encounters(flow, 12)
        assert sorted(j.event_number for j in flow.jobs()) == [1, 2, 3, 4, 10, 11, 12]
        flow.settle()
        numbers = sorted(j.event_number for j in flow.jobs())
        assert numbers == list(range(1, 13))
        assert {c["encounter"] for c in flow.claims()} == {f"Encounter/{e['id']}" for e in encounters}
        assert flow.ehr.count("GET", f"/fhir/Subscription/{sid}/$events") == 1
        with flow.services.engine.connect() as conn:
            (gap,) = ehr_repo.list_gaps(conn)
        assert (gap["kind"], gap["first_number"], gap["last_number"], gap["status"]) == ("events", 5, 9, "repaired")
        row = flow.subscription_row(sid)
        assert (row["health"], row["open_gaps"], row["events_checked"]) == ("ok", 0, 12)
        assert sample(flow, "claimbridge_subscription_gaps_total", subscription=sid) == 1
        labels = {"subscription": sid, "method": "events"}
        assert sample(flow, "claimbridge_subscription_gaps_repaired_total", **labels) == 1

        stored = versions(flow)
        assert await redeliver(flow, sid, range(5, 10)) == [200] * 5  # late originals: duplicates
        flow.settle()
        assert len(flow.jobs()) == 12 and versions(flow) == stored


async def test_without_events_support_a_gap_is_recovered_by_a_search(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        flow.set_supports_events(False)
        sid = flow.sub("Encounter")
        flow.ehr.drop_notifications(sid, 5, 9)
        encounters = await save_encounters(flow, 10)
        flow.settle()
        assert flow.ehr.count("GET", f"/fhir/Subscription/{sid}/$events") == 0
        assert {c["encounter"] for c in flow.claims()} == {f"Encounter/{e['id']}" for e in encounters}
        recovered = [j for j in flow.jobs() if j.event_number in range(5, 10)]
        assert recovered[0].result.startswith("pulled:")
        assert all(j.result == f"coalesced:{recovered[0].id}" for j in recovered[1:])
        assert flow.subscription_row(sid)["health"] == "ok"
        stored = versions(flow)
        assert await redeliver(flow, sid, range(5, 10)) == [200] * 5
        assert versions(flow) == stored


async def test_heartbeat_stops_then_degraded_then_reactivated_and_recovered(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, heartbeat=60) as flow:
        sid = flow.sub("Encounter")
        sweeper = flow.worker.duty(Sweeper)
        assert sweeper is not None
        assert await flow.ehr.send_heartbeat(sid)
        flow.clock.advance(100)
        sweeper.sweep()
        assert flow.subscription_row(sid)["health"] == "ok"  # within 60 s x tolerance 2

        working = flow.ehr.hub.notifier
        flow.ehr.hub.notifier = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(503)))
        encounter = await flow.seed_encounter(3, "hb")  # delivery fails: the EHR sets the subscription to error
        await flow.ehr.hub.notifier.aclose()
        flow.ehr.hub.notifier = working
        assert flow.ehr.store.by_key(f"Subscription/{sid}")["status"] == "error"
        assert flow.jobs() == []

        flow.clock.advance(200)
        flow.ehr.fail_next(1)  # the EHR is briefly unreachable: the gap stays open
        sweeper.sweep()
        row = flow.subscription_row(sid)
        assert (row["health"], row["open_gaps"]) == ("degraded", 1)

        sweeper.sweep()  # $status says error and 1 event: reactivated, event 1 recovered
        assert flow.ehr.store.by_key(f"Subscription/{sid}")["status"] == "active"
        flow.settle()
        (claim,) = flow.claims()
        assert claim["encounter"] == f"Encounter/{encounter['id']}"
        row = flow.subscription_row(sid)
        assert (row["health"], row["status"], row["open_gaps"], row["last_event_number"]) == ("ok", "active", 0, 1)
        with flow.services.engine.connect() as conn:
            kinds = sorted((g["kind"], g["status"]) for g in ehr_repo.list_gaps(conn) if g["subscription_id"] == sid)
        assert kinds == [("events", "repaired"), ("silence", "repaired")]
        assert sample(flow, "claimbridge_subscription_gaps_repaired_total", subscription=sid, method="reactivated") == 1


async def test_a_large_gap_without_events_support_costs_one_pull(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        flow.set_supports_events(False)
        sid = flow.sub("Encounter")
        flow.ehr.drop_notifications(sid, 1, 1)
        first = await flow.seed_encounter(0, "big0")
        late = await flow.seed_encounter(1, "big1")
        channel = flow.ehr.hub.channels[sid]
        event = channel.events[-1]
        state = flow.ehr.hub.state(sid)
        state = type(state)(**{**state.__dict__, "events_since_start": 300})
        bundle = build_notification_bundle(
            state,
            notification_type="event-notification",
            timestamp=event.timestamp,
            events=[type(event)(300, event.timestamp, late)],
            content="id-only",
        )
        headers = {**FHIR, **channel.headers}
        assert (
            await flow.notifier.post(channel.endpoint, content=orjson.dumps(bundle), headers=headers)
        ).status_code == 202
        flow.settle()
        results = [j.result for j in flow.jobs()]
        assert len(results) == 300
        assert sum(r.startswith("pulled:") for r in results) == 1
        assert sum(r.startswith("coalesced:") for r in results) == 297
        assert {c["encounter"] for c in flow.claims()} == {f"Encounter/{first['id']}", f"Encounter/{late['id']}"}


async def test_two_workers_sweep_each_subscription_once_per_interval(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, heartbeat=60) as flow:
        sid = flow.sub("Encounter")
        first = flow.worker.duty(Sweeper)
        assert first is not None
        second = dataclasses.replace(first, last_run=None)  # another worker process's sweeper, same database
        assert await flow.ehr.send_heartbeat(sid)
        flow.clock.advance(500)  # silent for longer than 60 s x tolerance: both workers' sweeps are due
        status_path = f"/fhir/Subscription/{sid}/$status"

        gate = threading.Event()
        flow.ehr.hold(status_path, gate)  # the first worker's $status for it stays in flight ...
        one = threading.Thread(target=first.run_if_due)
        one.start()
        assert wait_for(lambda: flow.ehr.count("GET", status_path) == 1)
        two = threading.Thread(target=second.run_if_due)  # ... while the second worker's sweep is due too
        two.start()
        assert wait_for(lambda: not two.is_alive() or flow.ehr.count("GET", status_path) > 1)
        asked_twice = flow.ehr.count("GET", status_path) > 1
        gate.set()
        one.join(30)
        two.join(30)
        assert not asked_twice, "both workers swept the same subscription in one interval"
        assert flow.ehr.count("GET", status_path) == 1
        with flow.services.engine.connect() as conn:
            gaps = [g for g in ehr_repo.list_gaps(conn) if g["subscription_id"] == sid]
        assert [g["kind"] for g in gaps] == ["silence"]


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
