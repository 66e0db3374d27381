"""id-only and empty payloads: the worker fetches current versions and context from the EHR."""

from __future__ import annotations

import copy
from pathlib import Path

from app.db import mirror_repo
from tests.ehrflow.harness import EHR_NAME, running_flow


async def test_id_only_notification_stores_the_claim_of_the_current_version(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        v1 = await flow.seed_encounter(0, "a")
        changed = copy.deepcopy(v1)
        changed["period"] = {"start": "2026-09-14T09:00:00-04:00", "end": "2026-09-14T09:40:00-04:00"}
        flow.ehr.seed(changed)  # version 2, written after the notification of version 1 went out
        before = {path: flow.ehr.count("GET", f"/fhir/{path}") for path in ("Encounter", "Coverage")}
        flow.settle()
        (job,) = flow.jobs()
        assert job.status == "done" and job.result.endswith(":ready")
        (claim,) = flow.claims()
        assert claim["claim"]["billablePeriod"]["start"] == "2026-09-14"
        assert claim["payer"] == "01112" and len(claim["claim"]["item"]) == 5
        with flow.services.engine.connect() as conn:
            assert mirror_repo.stored_version(conn, f"Encounter/{v1['id']}", ehr=EHR_NAME)[0] == "2"
        trips = {path: flow.ehr.count("GET", f"/fhir/{path}") - n for path, n in before.items()}
        assert trips == {"Encounter": 1, "Coverage": 1}  # 2 round trips for 4 orders, 3 diagnoses


async def test_an_order_is_read_then_its_encounter_context(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        await flow.seed_encounter(0, "b", notify=False)
        order = next(r for r in flow.ehr.store.all_of("ServiceRequest") if r["id"].endswith("-b"))
        await flow.ehr.save({**order, "note": [{"text": "specimen drawn"}]})
        flow.settle()
        (job,) = flow.jobs()
        assert job.focus == f"ServiceRequest/{order['id']}" and ":v1:" in job.result
        (claim,) = flow.claims()
        assert claim["encounter"] == order["encounter"]["reference"]


async def test_a_focus_deleted_before_it_is_fetched_finishes_as_gone(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        encounter = await flow.seed_encounter(2, "c")
        flow.ehr.delete("Encounter", encounter["id"])
        flow.settle()
        (job,) = flow.jobs()
        assert (job.status, job.result, job.attempts) == ("done", "gone", 0)
        assert flow.claims() == []


async def test_empty_payloads_trigger_one_notified_pull(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, content="empty") as flow:
        for i, suffix in enumerate(("d", "e", "f")):
            await flow.seed_encounter(i, suffix)
        searches = flow.ehr.count("GET", "/fhir/Encounter")
        flow.settle()
        jobs = flow.jobs()
        assert [j.focus for j in jobs] == [None, None, None]
        assert jobs[0].result.startswith("pulled:") and jobs[0].result.count(":v1:") == 3
        assert [j.result for j in jobs[1:]] == [f"coalesced:{jobs[0].id}"] * 2
        assert len(flow.claims()) == 3
        encounters = len(flow.ehr.store.all_of("Encounter"))  # 3 visits and their history-only encounters
        assert flow.ehr.count("GET", "/fhir/Encounter") - searches == 1 + encounters  # one pull, one context each
        subscription = flow.subscription_row(flow.sub("Encounter"))
        assert subscription["last_event_number"] == 3 and subscription["health"] == "ok"


async def test_plain_r4_pings_trigger_a_pull_of_the_subscription_types(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, content="empty", plain=True) as flow:
        assert {s.status for s in flow.subscriptions.values()} == {"active"}
        assert flow.subscriptions["Encounter"].criteria == "Encounter?status=arrived,in-progress,finished"
        encounter = await flow.seed_encounter(0, "p")
        (job,) = flow.jobs()
        assert (job.focus, job.event_number, job.subscription_id) == (None, None, flow.sub("Encounter"))
        flow.settle()
        (claim,) = flow.claims()
        assert claim["encounter"] == f"Encounter/{encounter['id']}"
        assert flow.jobs()[0].result.startswith("pulled:")
