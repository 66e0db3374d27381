"""A gap recovery that keeps failing for good stops after ``ehr.recovery_max_attempts``, visibly, and
an operator retries it once the cause is fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.db import audit_repo, ehr_repo
from app.db.engine import read_only
from app.ehr.recovery import Sweeper
from tests.ehrflow.harness import Flow, running_flow
from tests.spine.helpers import ADMIN

API = "http://claimbridge.test/api"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
SEARCH_BUNDLE = {"resourceType": "Bundle", "type": "searchset", "entry": []}  # not a notification


async def test_a_recovery_failing_for_good_stops_after_n_attempts_and_is_listed(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, ehr={"recovery_max_attempts": 2}) as flow:
        sid = flow.sub("Encounter")
        sweeper = flow.worker.duty(Sweeper)
        flow.ehr.drop_notifications(sid, 5, 9)
        for i in range(10):
            await flow.seed_encounter(i % 8, f"r{i}")
        flow.ehr.answer_events_with(SEARCH_BUNDLE)  # the EHR's $events is broken
        events = f"/fhir/Subscription/{sid}/$events"

        flow.ehr.fail_next(1)  # first a 503: temporary, it does not count toward stopping
        sweeper.sweep()
        sweeper.sweep()  # the search Bundle: first failure for good
        assert counts(flow, sid) == ("open", 2, 1)
        sweeper.sweep()  # second: the recovery stops
        assert counts(flow, sid) == ("failed", 3, 2)
        assert "FatalFhirError" in events_gap(flow, sid)["detail"]
        calls = flow.ehr.count("GET", events)
        assert calls == 3

        sweeper.sweep()
        sweeper.sweep()  # no more $events calls, and no new gap for the same numbers
        assert flow.ehr.count("GET", events) == calls
        with flow.services.engine.connect() as conn:
            assert [g["status"] for g in ehr_repo.list_gaps(conn) if g["subscription_id"] == sid] == ["failed"]
        row = flow.subscription_row(sid)
        assert (row["health"], row["open_gaps"], row["failed_gaps"]) == ("degraded", 0, 1)
        assert stopped(flow) == 1

        gap_id = events_gap(flow, sid)["id"]
        (listed,) = (await flow.notifier.get(f"{API}/gaps", headers=AUTH)).json()
        assert (listed["id"], listed["status"], listed["failures"]) == (gap_id, "failed", 2)
        assert (await flow.notifier.get(f"{API}/gaps")).status_code == 401
        flow.ehr.answer_events_with(None)  # the EHR's $events is fixed; the operator retries the gap
        assert (await flow.notifier.post(f"{API}/gaps/{gap_id}/retry", headers=AUTH)).status_code == 200
        assert (await flow.notifier.post(f"{API}/gaps/{gap_id}/retry", headers=AUTH)).status_code == 409
        assert (await flow.notifier.post(f"{API}/gaps/9999/retry", headers=AUTH)).status_code == 404
        with read_only(flow.services.engine) as conn:
            audited = audit_repo.list_events(conn, action="replay")
        assert [(e["actor_kind"], e["entity"]) for e in audited] == [("api", f"gap/{gap_id}")]  # the 200 only
        flow.settle()
        assert counts(flow, sid)[0] == "repaired"
        assert sorted(j.event_number for j in flow.jobs()) == list(range(1, 11))
        row = flow.subscription_row(sid)
        assert (row["health"], row["open_gaps"], row["failed_gaps"]) == ("ok", 0, 0)
        assert stopped(flow) == 0


def stopped(flow: Flow) -> float | None:
    return flow.services.metrics.registry.get_sample_value("claimbridge_subscription_recoveries_stopped")


def events_gap(flow: Flow, sid: str) -> dict[str, Any]:
    with flow.services.engine.connect() as conn:
        (gap,) = [g for g in ehr_repo.list_gaps(conn) if g["subscription_id"] == sid and g["kind"] == "events"]
    return gap


def counts(flow: Flow, sid: str) -> tuple[str, int, int]:
    gap = events_gap(flow, sid)
    return gap["status"], gap["attempts"], gap["failures"]
