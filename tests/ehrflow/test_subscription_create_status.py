"""``subscriptions create`` against the test EHR: what each created subscription's status is, and when."""

from __future__ import annotations

from pathlib import Path

from tests.ehrflow.harness import running_flow


async def test_created_subscription_is_requested_until_the_ehr_handshakes(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, heartbeat=60, handshake_later=True) as flow:
        sid = flow.sub("Encounter")
        assert flow.subscriptions["Encounter"].status == "requested"
        assert flow.subscription_row(sid)["status"] == "requested"  # no handshake yet: not active
        assert (await flow.ehr.hub.handshake(sid))["status"] == "active"  # our 2xx completed it
        assert flow.subscription_row(sid)["status"] == "active"


async def test_a_subscription_the_ehr_activates_at_once_is_active(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, plain=True) as flow:
        for created in flow.subscriptions.values():
            assert created.status == "active"
            assert flow.subscription_row(created.id)["status"] == "active"
