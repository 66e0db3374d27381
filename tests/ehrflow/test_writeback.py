"""Write-back of Tasks to the EHR through the outbox: idempotent, and isolated when the EHR fails."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import select

from app.db.models import Outbox
from app.db.subscriptions_repo import add_subscription
from app.worker.clearinghouse import ClearinghouseCycle
from app.worker.outbox import OutboxDispatcher
from tests.ehrflow.harness import EHR_NAME, ENDPOINT, Flow, running_flow
from tests.spine.helpers import clone_bundle, notification, sample_bundles

SECRET = "demo-secret-for-the-writeback-test"


def register_demo(flow: Flow) -> None:
    with flow.services.engine.begin() as conn:
        add_subscription(
            conn,
            subscription_id="claimbridge-demo",
            secret=SECRET,
            ehr=EHR_NAME,
            signing_secret=None,
            content="full-resource",
            topic=None,
            heartbeat_period=None,
            now=flow.clock.now(),
        )


async def post_samples(flow: Flow, count: int, *, wave: int = 0, first: int = 1) -> None:
    headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
    for number, bundle in enumerate(sample_bundles(count), start=first):
        body = orjson.dumps(notification(clone_bundle(bundle, f"w{wave}"), number))
        assert (await flow.notifier.post(ENDPOINT, content=body, headers=headers)).status_code == 202


def outbox(flow: Flow) -> list[Outbox]:
    with flow.services.engine.connect() as conn:
        return list(conn.execute(select(Outbox).order_by(Outbox.id)).all())


def tasks_in_ehr(flow: Flow) -> list[dict]:
    return flow.ehr.store.all_of("Task")


async def test_a_failing_ehr_does_not_hold_back_the_clearinghouse(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, adapters={"writeback": "ehr", "clearinghouse": "folder"}) as flow:
        register_demo(flow)
        await post_samples(flow, 30)
        flow.ehr.fail_next(1000, status=503)
        flow.worker.drain()
        assert (
            flow.worker.duty(OutboxDispatcher).breakers[f"ehr:{EHR_NAME}"].opened_at is not None
        )  # 5 failures in a row
        first_wave = {r.id for r in outbox(flow)}
        await post_samples(flow, 20, wave=1, first=31)
        flow.worker.drain()
        flow.worker.duty(ClearinghouseCycle).submitter.submit()  # the periodic 837P batch, run now
        flow.worker.drain()
        rows = outbox(flow)
        tasks = [r for r in rows if r.kind == "task"]
        batches = [r for r in rows if r.kind == "837p"]
        assert len(tasks) > 5 and len(batches) == 1
        assert {r.destination for r in tasks} == {f"ehr:{EHR_NAME}"}
        assert all(r.status == "delivered" for r in batches)
        assert [f.name for f in (tmp_path / "out" / "clearinghouse" / "837p").iterdir()] == [
            batches[0].payload["file_name"]
        ]
        assert all(r.status == "pending" for r in tasks) and tasks_in_ehr(flow) == []
        assert all(r.attempts == 0 for r in tasks if r.id not in first_wave)  # skipped while the breaker is open

        flow.ehr.faults.fail_next = 0
        flow.clock.advance(3600)
        flow.worker.drain()
        assert all(r.status == "delivered" for r in outbox(flow))
        written = tasks_in_ehr(flow)
        assert len(written) == len(tasks)
        assert {t["identifier"][0]["value"] for t in written} == {r.payload["identifier"][0]["value"] for r in tasks}


async def test_task_write_back_is_idempotent_and_updates_in_place(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, adapters={"writeback": "ehr"}) as flow:
        register_demo(flow)
        await post_samples(flow, 6)
        flow.worker.drain()
        task_row = next(r for r in outbox(flow) if r.kind == "task")
        adapter = flow.worker.duty(OutboxDispatcher).adapters[f"ehr:{EHR_NAME}"]
        count = len(tasks_in_ehr(flow))
        adapter.deliver(kind="task", key=task_row.key, payload=task_row.payload)  # at-least-once redelivery
        assert len(tasks_in_ehr(flow)) == count
        changed = {**task_row.payload, "description": "new findings"}
        adapter.deliver(kind="task", key=task_row.key + "-v2", payload=changed)
        value = task_row.payload["identifier"][0]["value"]
        (task,) = [t for t in tasks_in_ehr(flow) if t["identifier"][0]["value"] == value]
        assert (len(tasks_in_ehr(flow)), task["description"], task["meta"]["versionId"]) == (count, "new findings", "2")


async def test_a_retry_after_defers_write_back_rows_without_counting_attempts(db_url: str, tmp_path: Path) -> None:
    """Issue 17 item 4: one row meets the EHR's 429; the others wait out its Retry-After unsent."""
    async with running_flow(db_url, tmp_path, adapters={"writeback": "ehr", "clearinghouse": "folder"}) as flow:
        register_demo(flow)
        flow.ehr.rate_limit_next(1000, retry_after="120")
        await post_samples(flow, 8)
        flow.worker.drain()
        tasks = [r for r in outbox(flow) if r.kind == "task"]
        assert len(tasks) > 1 and all(r.status == "pending" for r in tasks)
        assert sorted(r.attempts for r in tasks) == [0] * (len(tasks) - 1) + [1]  # one sent, the rest held
        assert flow.worker.duty(OutboxDispatcher).breakers[f"ehr:{EHR_NAME}"].opened_at is None
        assert flow.ehr.count("POST", "/fhir/Task") + flow.ehr.count("PUT", "/fhir/Task") <= 1
        flow.ehr.faults.rate_limit_next = 0
        flow.clock.advance(121)
        flow.worker.drain()
        assert all(r.status == "delivered" for r in outbox(flow))
        assert len(tasks_in_ehr(flow)) == len(tasks)
