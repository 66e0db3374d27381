"""Check-in triggers a verification end to end: the default Encounter subscription of an EHR (plain
R4 criteria, the in-process test EHR) notifies an ``arrived`` Encounter, and the worker verifies its
coverage with the payer (mocked at the HTTP edge) before the visit finishes."""

from __future__ import annotations

from pathlib import Path

import httpx
import respx
from sqlalchemy import select

from app.db.models import EligibilityCheck
from app.eligibility.duty import EligibilityDuty
from tests.ehrflow.harness import running_flow
from tests.eligibility.helpers import SUBMIT, eligibility_config, office_visit_benefits, response

BUCKEYE = 8  # examples/bundles/encounter-009.json: payer 60054, whose test profile verifies in real time


async def test_an_arrived_encounter_notification_causes_a_verification(db_url: str, tmp_path: Path) -> None:
    config = eligibility_config(tmp_path, max_attempts=1, timeout_seconds=30)
    async with running_flow(db_url, tmp_path, content="empty", plain=True, config_dir=config) as flow:
        assert "arrived" in flow.subscriptions["Encounter"].criteria
        with respx.mock(assert_all_called=True) as payer:
            route = payer.post(SUBMIT).mock(
                return_value=httpx.Response(200, json=response(items=office_visit_benefits()))
            )
            encounter = await flow.seed_encounter(BUCKEYE, "in", notify=False)
            arrived = await flow.ehr.save({**encounter, "status": "arrived"})  # the front desk checks the patient in
            flow.settle()
            flow.worker.duty(EligibilityDuty).drain(timeout=60)
            assert route.call_count == 1
            with flow.services.engine.connect() as conn:
                rows = conn.execute(select(EligibilityCheck)).all()
            assert [(r.trigger, r.encounter, r.result_status) for r in rows] == [
                ("check-in", f"Encounter/{arrived['id']}", "active")
            ]
            (claim,) = flow.claims()
            assert claim["status"] == "held"  # not billed before the visit finishes

            await flow.ehr.save({**arrived, "status": "finished"})  # the visit ends: billed, not asked again
            flow.settle()
            flow.worker.duty(EligibilityDuty).drain(timeout=60)
            assert route.call_count == 1
            (claim,) = flow.claims()
            assert claim["status"] != "held"
