"""A visit entered in error after the payer has its claim goes out as a void (frequency 8, REF*F8): issue 11."""

from __future__ import annotations

import copy
import re
from decimal import Decimal

import orjson

from tests.clearinghouse.answers import ClaimVerdict, ack_277ca, clm01s
from tests.clearinghouse.conftest import NOTIFY, Flow
from tests.clearinghouse.test_clearinghouse_flow import drop, submitted_pcns
from tests.clearinghouse.test_clearinghouse_replacement import claim_block, files
from tests.spine.helpers import notification, sample_bundles
from tests.x12.x12_pyx12 import assert_valid_837p


def test_an_encounter_entered_in_error_voids_the_claim_the_payer_holds(flow: Flow) -> None:
    worker = flow.services.worker(worker_id="w")
    flow.post_samples(1)
    worker.drain()
    flow.clock.advance(301)
    worker.drain()
    (first,) = files(flow)
    ((claim_id, pcn),) = submitted_pcns(flow).items()
    total = Decimal(str(flow.claims()[claim_id]["claim"]["total"]["value"]))
    drop(flow, "claims.277", ack_277ca([ClaimVerdict(pcn, total, payer_icn="PAYER9001")], when=flow.clock.now().date()))
    flow.clock.advance(61)
    worker.drain()

    bundle = copy.deepcopy(sample_bundles(1)[0])
    for entry in bundle["entry"]:
        entry["resource"]["meta"] = {**entry["resource"].get("meta", {}), "versionId": "2"}
        if entry["resource"]["resourceType"] == "Encounter" and entry["resource"]["id"] == "enc-001":
            entry["resource"]["status"] = "entered-in-error"
    response = flow.client.post("/notifications", content=orjson.dumps(notification(bundle, 2)), headers=NOTIFY)
    assert response.status_code == 202
    worker.drain()
    claim = flow.claims()[claim_id]
    assert claim["status"] == "needs-replacement" and claim["claim"]["status"] == "cancelled"
    assert not [f for f in claim["findings"] if f["severity"] == "error"]

    flow.clock.advance(301)
    worker.drain()
    (voids,) = [f for f in files(flow) if f != first]
    text = voids.read_text()
    assert_valid_837p(text)
    assert clm01s(text) == [pcn]
    block = claim_block(text, pcn)
    assert re.match(rf"CLM\*{pcn}\*[0-9.]+\*\*\*[0-9]{{2}}:B:8\*", block), block
    assert "~REF*F8*PAYER9001" in block
