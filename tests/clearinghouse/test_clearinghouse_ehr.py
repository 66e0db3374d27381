"""ClaimResponses go back to the claim's EHR (destination ``ehr:<name>``), created once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app.db.models import Outbox
from app.worker.outbox import OutboxDispatcher
from tests.clearinghouse.answers import TransactionVerdict, ack_999
from tests.ehrflow.harness import EHR_NAME, running_flow
from tests.ehrflow.test_writeback import post_samples, register_demo


async def test_claim_responses_are_written_to_the_subscription_ehr(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, adapters={"writeback": "ehr"}) as flow:
        register_demo(flow)
        await post_samples(flow, 3)
        flow.worker.drain()
        result = flow.services.submitter().submit()
        assert result.interchange_control_number is not None and result.submitted
        text = ack_999(
            result.interchange_control_number, [TransactionVerdict("0001", "A")], when=flow.clock.now().date()
        )
        flow.services.ingester().ingest(text.encode(), name="ack.999", source="test")
        flow.worker.drain()
        with flow.services.engine.connect() as conn:
            rows = conn.execute(select(Outbox).where(Outbox.kind == "claim-response")).all()
        assert len(rows) == len(result.submitted)
        assert {(r.destination, r.status) for r in rows} == {(f"ehr:{EHR_NAME}", "delivered")}
        written = flow.ehr.store.all_of("ClaimResponse")
        assert sorted(r["identifier"][0]["value"] for r in written) == sorted(r.key for r in rows)
        assert {r["outcome"] for r in written} == {"queued"}
        adapter = flow.worker.duty(OutboxDispatcher).adapters[f"ehr:{EHR_NAME}"]
        assert adapter is not None
        adapter.deliver(kind="claim-response", key=rows[0].key, payload=dict(rows[0].payload))  # re-delivery
        assert len(flow.ehr.store.all_of("ClaimResponse")) == len(written)
