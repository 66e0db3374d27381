"""A visit entered in error after the payer has its claim goes out as a void (frequency 8, REF*F8): issue 11."""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import orjson

from app.worker.runner import Worker
from tests.clearinghouse.answers import ClaimVerdict, ack_277ca, clm01s
from tests.clearinghouse.conftest import NOTIFY, Flow
from tests.clearinghouse.test_clearinghouse_flow import drop, submitted_pcns
from tests.clearinghouse.test_clearinghouse_replacement import claim_block, files
from tests.spine.helpers import notification, sample_bundles
from tests.x12.x12_pyx12 import assert_valid_837p


def accepted_by_the_payer(flow: Flow, payer_icn: str) -> tuple[Worker, Path, str, str]:
    """The first sample visit billed, sent, and accepted by the payer's 277CA (claim number ``payer_icn``)."""
    worker = flow.services.worker(worker_id="w")
    flow.post_samples(1)
    worker.drain()
    flow.clock.advance(301)
    worker.drain()
    (first,) = files(flow)
    ((claim_id, pcn),) = submitted_pcns(flow).items()
    total = Decimal(str(flow.claims()[claim_id]["claim"]["total"]["value"]))
    drop(flow, "claims.277", ack_277ca([ClaimVerdict(pcn, total, payer_icn=payer_icn)], when=flow.clock.now().date()))
    flow.clock.advance(61)
    worker.drain()
    return worker, first, claim_id, pcn


def test_an_encounter_entered_in_error_voids_the_claim_the_payer_holds(flow: Flow) -> None:
    worker, first, claim_id, pcn = accepted_by_the_payer(flow, "PAYER9001")

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


CHARGES = ("ServiceRequest", "MedicationRequest", "Procedure", "ChargeItem")


def versioned(bundle: dict[str, Any], version: str) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    for entry in out["entry"]:
        entry["resource"]["meta"] = {**entry["resource"].get("meta", {}), "versionId": version}
    return out


def charges_removed(bundle: dict[str, Any]) -> dict[str, Any]:
    """The visit's charges withdrawn in the EHR: no E/M code, every order entered in error."""
    out = versioned(bundle, "2")
    for entry in out["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Encounter" and resource["id"] == "enc-001":
            resource.pop("type", None)
        if resource["resourceType"] in CHARGES:
            resource["status"] = "entered-in-error"
    return out


def entered_in_error(bundle: dict[str, Any]) -> dict[str, Any]:
    out = versioned(bundle, "2")
    for entry in out["entry"]:
        if entry["resource"]["resourceType"] == "Encounter" and entry["resource"]["id"] == "enc-001":
            entry["resource"]["status"] = "entered-in-error"
    return out


def send(flow: Flow, bundle: dict[str, Any], number: int) -> None:
    response = flow.client.post("/notifications", content=orjson.dumps(notification(bundle, number)), headers=NOTIFY)
    assert response.status_code == 202
    flow.services.worker(worker_id=f"w{number}").drain()


def outcome_of(flow: Flow) -> dict[str, Any]:
    return cast(dict[str, Any], flow.api("/api/encounters/enc-001"))


def test_an_unsent_claim_whose_charges_are_removed_is_withdrawn_and_comes_back(flow: Flow) -> None:
    bundle = sample_bundles(1)[0]
    send(flow, bundle, 1)
    ((claim_id, claim),) = flow.claims().items()
    assert claim["status"] == "ready"

    send(flow, charges_removed(bundle), 2)
    claim = flow.claims()[claim_id]
    assert (claim["status"], claim["version"]) == ("withdrawn", 1)
    (why,) = [f for f in claim["findings"] if f["rule"] == "charge-capture.claim-withdrawn"]
    assert why["severity"] == "info" and "no billable charge left" in why["message"]
    outcome = outcome_of(flow)
    assert (outcome["outcome"], outcome["claim"]) == ("nothing-billable", None)
    assert "charge-capture.claim-withdrawn" in [f["rule"] for f in outcome["findings"]]
    assert [c["id"] for c in flow.api("/api/claims", status="withdrawn")] == [claim_id]
    flow.clock.advance(301)
    assert flow.services.submitter().submit().batch_id is None  # a withdrawn claim is not sent

    send(flow, versioned(bundle, "3"), 3)  # the charges recorded again, exactly as before
    claim = flow.claims()[claim_id]
    assert (claim["status"], claim["version"]) == ("ready", 2)
    assert outcome_of(flow)["claim"] == claim_id


def test_an_unsent_claim_of_a_visit_entered_in_error_is_withdrawn_not_refused(flow: Flow) -> None:
    bundle = sample_bundles(1)[0]
    send(flow, bundle, 1)
    ((claim_id, _),) = flow.claims().items()
    send(flow, entered_in_error(bundle), 2)
    claim = flow.claims()[claim_id]
    assert (claim["status"], claim["version"]) == ("withdrawn", 1)  # no cancelled version: nothing to void
    assert "the visit is entered-in-error" in " ".join(f["message"] for f in claim["findings"])
    outcome = outcome_of(flow)
    assert (outcome["outcome"], outcome["claim"]) == ("not-finished", None)
    assert [f["rule"] for f in outcome["findings"]] == [
        "documentation.encounter-cancelled", "charge-capture.claim-withdrawn"
    ]  # fmt: skip
    flow.clock.advance(301)
    result = flow.services.submitter().submit()
    assert (result.batch_id, result.held) == (None, ())


def test_charges_removed_after_the_payer_has_the_claim_void_it(flow: Flow) -> None:
    worker, first, claim_id, pcn = accepted_by_the_payer(flow, "PAYER9002")

    response = flow.client.post(
        "/notifications", content=orjson.dumps(notification(charges_removed(sample_bundles(1)[0]), 2)), headers=NOTIFY
    )
    assert response.status_code == 202
    worker.drain()
    claim = flow.claims()[claim_id]
    assert (claim["status"], claim["version"], claim["claim"]["status"]) == ("needs-replacement", 2, "cancelled")
    assert [f["rule"] for f in claim["findings"]] == ["charge-capture.claim-voided"]
    assert "charge-capture.claim-voided" in [f["rule"] for f in outcome_of(flow)["findings"]]

    flow.clock.advance(301)
    worker.drain()
    (voids,) = [f for f in files(flow) if f != first]
    text = voids.read_text()
    assert_valid_837p(text)
    block = claim_block(text, pcn)
    assert re.match(rf"CLM\*{pcn}\*[0-9.]+\*\*\*[0-9]{{2}}:B:8\*", block), block
    assert "~REF*F8*PAYER9002" in block
    worker.drain()  # the same evaluation again voids nothing more
    assert flow.claims()[claim_id]["version"] == 2
