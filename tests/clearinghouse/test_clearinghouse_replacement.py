"""A claim that changes after the payer has it goes out as a replacement (frequency 7, REF*F8), never again as new."""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select, update

from app.db.models import ClaimVersion
from tests.clearinghouse.answers import ClaimVerdict, ack_277ca, clm01s
from tests.clearinghouse.conftest import ADMIN_AUTH, NOTIFY, Flow
from tests.clearinghouse.test_clearinghouse_flow import drop, submitted_pcns
from tests.spine.helpers import notification, sample_bundles
from tests.x12.x12_pyx12 import assert_valid_837p

SAMPLES = 12


def amended(bundle: dict[str, Any]) -> dict[str, Any]:
    """The encounter coded again after review: its first diagnosis corrected (a new version of everything)."""
    changed = copy.deepcopy(bundle)
    first = True
    for entry in changed["entry"]:
        resource = entry["resource"]
        resource["meta"] = {**resource.get("meta", {}), "versionId": "2"}
        if resource["resourceType"] == "Condition" and first:
            coding = resource["code"]["coding"][0]
            coding["code"], coding["display"] = "R51.9", "Headache, unspecified"
            first = False
    return changed


def files(flow: Flow) -> list[Path]:
    return sorted(flow.outbox_dir.iterdir()) if flow.outbox_dir.exists() else []


def claim_block(x12: str, pcn: str) -> str:
    """The segments of one claim's 2300 loop (CLM up to the next CLM or the SE)."""
    segments = x12.replace("\n", "").split("~")
    start = next(i for i, s in enumerate(segments) if s.startswith(f"CLM*{pcn}*"))
    end = next(i for i in range(start + 1, len(segments)) if segments[i].startswith(("CLM*", "SE*")))
    return "~".join(segments[start:end])


def test_a_changed_claim_is_replaced_once_the_payer_icn_is_known(flow: Flow) -> None:
    worker = flow.services.worker(worker_id="w")
    flow.post_samples(SAMPLES)
    worker.drain()
    flow.clock.advance(301)
    worker.drain()
    (first_file,) = files(flow)
    pcns = submitted_pcns(flow)
    claims = flow.claims()
    with_icn, without_icn = sorted(pcns)[:2]
    today = flow.clock.now().date()
    verdicts = [
        ClaimVerdict(pcns[k], Decimal(str(claims[k]["claim"]["total"]["value"])), payer_icn="PAYER7001")
        if k == with_icn
        else ClaimVerdict(pcns[k], Decimal(str(claims[k]["claim"]["total"]["value"])))
        for k in (with_icn, without_icn)
    ]
    drop(flow, "1-claims.277", ack_277ca(verdicts, when=today))
    flow.clock.advance(61)
    worker.drain()
    assert {flow.claims()[k]["status"] for k in (with_icn, without_icn)} == {"accepted"}

    bundles = {
        f"Encounter/{e['resource']['id']}": b
        for b in sample_bundles(SAMPLES)
        for e in b["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    }
    for number, key in enumerate((with_icn, without_icn), start=SAMPLES + 1):
        bundle = amended(bundles[claims[key]["encounter"]])
        response = flow.client.post(
            "/notifications", content=orjson.dumps(notification(bundle, number)), headers=NOTIFY
        )
        assert response.status_code == 202
    worker.drain()
    after = flow.claims()
    assert [after[k]["status"] for k in (with_icn, without_icn)] == ["needs-replacement"] * 2
    assert [after[k]["version"] for k in (with_icn, without_icn)] == [2, 2]

    flow.clock.advance(301)
    worker.drain()
    new_files = [f for f in files(flow) if f != first_file]
    assert len(new_files) == 1, "the replacement goes in the next batch"
    text = new_files[0].read_text()
    assert_valid_837p(text)
    assert clm01s(text) == [pcns[with_icn]]  # the claim without a payer ICN waits for one
    block = claim_block(text, pcns[with_icn])
    assert re.match(rf"CLM\*{pcns[with_icn]}\*[0-9.]+\*\*\*[0-9]{{2}}:B:7\*", block), block
    assert "~REF*F8*PAYER7001" in block
    final = flow.claims()
    assert final[with_icn]["status"] == "submitted"
    assert final[without_icn]["status"] == "needs-replacement"


def test_a_held_change_released_by_override_still_goes_as_a_replacement(flow: Flow) -> None:
    worker = flow.services.worker(worker_id="w")
    flow.post_samples(SAMPLES)
    worker.drain()
    flow.clock.advance(301)
    worker.drain()
    (first_file,) = files(flow)
    pcns = submitted_pcns(flow)
    claims = flow.claims()
    key = sorted(pcns)[0]
    charge = Decimal(str(claims[key]["claim"]["total"]["value"]))
    drop(flow, "1-claims.277", ack_277ca([ClaimVerdict(pcns[key], charge)], when=flow.clock.now().date()))
    flow.clock.advance(61)
    worker.drain()
    assert flow.claims()[key]["status"] == "accepted"  # with the payer, no payer claim number yet

    bundle = next(
        b
        for b in sample_bundles(SAMPLES)
        if any(e["resource"].get("id") == claims[key]["encounter"].split("/")[1] for e in b["entry"])
    )
    broken = amended(bundle)
    for entry in broken["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"].pop("birthDate", None)  # an error finding: the new version is held
    body = orjson.dumps(notification(broken, SAMPLES + 1))
    assert flow.client.post("/notifications", content=body, headers=NOTIFY).status_code == 202
    worker.drain()
    held = flow.claims()[key]
    assert held["status"] == "held"
    errors = [f for f in held["findings"] if f["severity"] == "error" and not f.get("overridden_by")]
    assert errors
    for finding in errors:
        response = flow.client.post(
            f"/api/claims/{key}/findings/{finding['id']}/override",
            json={"reason": "date of birth confirmed by phone"},
            headers=ADMIN_AUTH,
        )
        assert response.status_code == 200, response.text
    assert flow.claims()[key]["status"] == "needs-replacement"  # not "ready": never a second original

    flow.clock.advance(301)
    worker.drain()
    assert [f for f in files(flow) if f != first_file] == []  # waits for the payer's claim number


def replaced_once(flow: Flow, worker: Any) -> tuple[str, str, Path, dict[str, Any]]:
    """One claim accepted with a payer ICN, then amended (a replacement due): (claim, CLM01, first file, bundle)."""
    flow.post_samples(1)
    worker.drain()
    flow.clock.advance(301)
    worker.drain()
    (first_file,) = files(flow)
    ((key, pcn),) = submitted_pcns(flow).items()
    charge = Decimal(str(flow.claims()[key]["claim"]["total"]["value"]))
    today = flow.clock.now().date()
    drop(flow, "1-claims.277", ack_277ca([ClaimVerdict(pcn, charge, payer_icn="PAYER7001")], when=today))
    flow.clock.advance(61)
    worker.drain()
    assert flow.claims()[key]["status"] == "accepted"
    bundle = amended(sample_bundles(1)[0])
    response = flow.client.post("/notifications", content=orjson.dumps(notification(bundle, 2)), headers=NOTIFY)
    assert response.status_code == 202
    worker.drain()
    assert flow.claims()[key]["status"] == "needs-replacement"
    return key, pcn, first_file, bundle


def test_a_fix_of_a_rejected_replacement_is_a_replacement_again(flow: Flow) -> None:
    """The payer rejected the replacement but still holds the original: the fix must not go as new (CARC 18)."""
    worker = flow.services.worker(worker_id="w")
    key, pcn, _first_file, bundle = replaced_once(flow, worker)
    flow.clock.advance(301)
    worker.drain()
    assert flow.claims()[key]["status"] == "submitted"
    charge = Decimal(str(flow.claims()[key]["claim"]["total"]["value"]))
    rejected = ack_277ca([ClaimVerdict(pcn, charge, status="A7:562:85")], when=flow.clock.now().date(), control=9003)
    drop(flow, "2-claims.277", rejected)
    flow.clock.advance(61)
    worker.drain()
    assert flow.claims()[key]["status"] == "rejected"

    fixed = copy.deepcopy(bundle)
    for entry in fixed["entry"]:
        resource = entry["resource"]
        resource["meta"] = {**resource.get("meta", {}), "versionId": "3"}
        if resource["resourceType"] == "Condition":
            resource["code"]["coding"][0]["code"] = "R51.0"  # coded again
    response = flow.client.post("/notifications", content=orjson.dumps(notification(fixed, 3)), headers=NOTIFY)
    assert response.status_code == 202
    worker.drain()
    claim = flow.claims()[key]
    assert (claim["status"], claim["version"]) == ("needs-replacement", 3)
    flow.clock.advance(301)
    worker.drain()
    text = files(flow)[-1].read_text()
    assert len(files(flow)) == 3
    assert_valid_837p(text)
    block = claim_block(text, pcn)
    assert re.match(rf"CLM\*{pcn}\*[0-9.]+\*\*\*[0-9]{{2}}:B:7\*", block), block
    assert "~REF*F8*PAYER7001" in block


def test_a_rejected_claim_the_payer_never_held_is_fixed_as_an_original(flow: Flow) -> None:
    worker = flow.services.worker(worker_id="w")
    flow.post_samples(1)
    worker.drain()
    flow.clock.advance(301)
    worker.drain()
    ((key, pcn),) = submitted_pcns(flow).items()
    charge = Decimal(str(flow.claims()[key]["claim"]["total"]["value"]))
    drop(flow, "1-claims.277", ack_277ca([ClaimVerdict(pcn, charge, status="A7:562:85")], when=flow.clock.now().date()))
    flow.clock.advance(61)
    worker.drain()
    assert flow.claims()[key]["status"] == "rejected"
    response = flow.client.post(
        "/notifications", content=orjson.dumps(notification(amended(sample_bundles(1)[0]), 2)), headers=NOTIFY
    )
    assert response.status_code == 202
    worker.drain()
    assert flow.claims()[key]["status"] == "ready"
    flow.clock.advance(301)
    worker.drain()
    block = claim_block(files(flow)[-1].read_text(), pcn)
    assert re.match(rf"CLM\*{pcn}\*[0-9.]+\*\*\*[0-9]{{2}}:B:1\*", block) and "REF*F8" not in block, block


def test_a_refused_replacement_is_refused_once_and_held_until_it_changes(flow: Flow) -> None:
    """Issue: a refused needs-replacement claim was refused again at every submit cycle."""
    worker = flow.services.worker(worker_id="w")
    key, _pcn, _first, bundle = replaced_once(flow, worker)
    with flow.services.engine.begin() as conn:  # the current version: one the 837P builder must refuse
        version = conn.execute(
            select(ClaimVersion).where(ClaimVersion.claim_id == key).order_by(ClaimVersion.version.desc())
        ).first()
        assert version is not None
        resource = {k: v for k, v in dict(version.resource).items() if k != "diagnosis"}
        conn.execute(update(ClaimVersion).where(ClaimVersion.id == version.id).values(resource=resource))
    submitter = flow.services.submitter()
    first = submitter.submit()
    assert [c for c, _ in first.held] == [key] and first.batch_id is None
    claim = flow.claims()[key]
    assert claim["status"] == "held"
    assert [f["rule"] for f in claim["findings"] if f["severity"] == "error"] == ["x12.refused"]
    again = submitter.submit()
    assert (again.held, again.batch_id) == ((), None)  # not picked, not refused again
    assert [f["rule"] for f in flow.claims()[key]["findings"]].count("x12.refused") == 1

    fixed = copy.deepcopy(bundle)  # its data changes: a new version, again a replacement
    for entry in fixed["entry"]:
        entry["resource"]["meta"] = {**entry["resource"].get("meta", {}), "versionId": "3"}
        if entry["resource"]["resourceType"] == "Condition":
            entry["resource"]["code"]["coding"][0]["code"] = "R51.0"
    response = flow.client.post("/notifications", content=orjson.dumps(notification(fixed, 3)), headers=NOTIFY)
    assert response.status_code == 202
    worker.drain()
    claim = flow.claims()[key]
    assert (claim["status"], claim["version"]) == ("needs-replacement", 3)
    assert "x12.refused" not in [f["rule"] for f in claim["findings"]]


def with_charge_item(bundle: dict[str, Any], status: str, version: str) -> dict[str, Any]:
    """The visit with a ChargeItem the EHR recorded (an injection, 96372) in ``status``."""
    out = copy.deepcopy(bundle)
    for entry in out["entry"]:
        entry["resource"]["meta"] = {**entry["resource"].get("meta", {}), "versionId": version}
    item = {
        "resourceType": "ChargeItem", "id": "ci-001-1", "meta": {"versionId": version}, "status": status,
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "96372"}]},
        "subject": {"reference": "Patient/pat-001"}, "context": {"reference": "Encounter/enc-001"},
    }  # fmt: skip
    out["entry"].append({"fullUrl": "urn:uuid:ci-001-1", "resource": item})
    return out


def test_a_charge_item_marked_billed_after_the_payer_has_the_claim_stays_on_it(flow: Flow) -> None:
    """History.replacing: a ChargeItem `billed` is billed again on a replacement, not dropped from it."""
    worker = flow.services.worker(worker_id="w")
    bundle = sample_bundles(1)[0]
    note = notification(with_charge_item(bundle, "billable", "1"), 1)
    assert flow.client.post("/notifications", content=orjson.dumps(note), headers=NOTIFY).status_code == 202
    worker.drain()
    flow.clock.advance(301)
    worker.drain()
    ((key, pcn),) = submitted_pcns(flow).items()
    claim = flow.claims()[key]
    assert "96372" in [i["productOrService"]["coding"][0]["code"] for i in claim["claim"]["item"]]
    charge = Decimal(str(claim["claim"]["total"]["value"]))
    drop(
        flow,
        "1-claims.277",
        ack_277ca([ClaimVerdict(pcn, charge, payer_icn="PAYER7002")], when=flow.clock.now().date()),
    )
    flow.clock.advance(61)
    worker.drain()

    note = notification(with_charge_item(bundle, "billed", "2"), 2)  # the EHR marks its charge billed
    assert flow.client.post("/notifications", content=orjson.dumps(note), headers=NOTIFY).status_code == 202
    worker.drain()
    after = flow.claims()[key]
    assert (after["status"], after["version"]) == ("accepted", 1)  # no replacement that drops the line
    assert "charge-capture.charge-already-billed" not in [f["rule"] for f in after["findings"]]

    amended_note = notification(with_charge_item(amended(bundle), "billed", "3"), 3)  # a real change
    assert flow.client.post("/notifications", content=orjson.dumps(amended_note), headers=NOTIFY).status_code == 202
    worker.drain()
    replaced = flow.claims()[key]
    assert (replaced["status"], replaced["version"]) == ("needs-replacement", 2)
    assert "96372" in [i["productOrService"]["coding"][0]["code"] for i in replaced["claim"]["item"]]


def test_a_charge_item_billed_elsewhere_before_the_first_claim_stays_off_its_replacement(flow: Flow) -> None:
    worker = flow.services.worker(worker_id="w")
    bundle = sample_bundles(1)[0]
    note = notification(with_charge_item(bundle, "billed", "1"), 1)  # billed before claimbridge saw the visit
    assert flow.client.post("/notifications", content=orjson.dumps(note), headers=NOTIFY).status_code == 202
    worker.drain()
    flow.clock.advance(301)
    worker.drain()
    ((key, pcn),) = submitted_pcns(flow).items()
    claim = flow.claims()[key]
    assert "charge-capture.charge-already-billed" in [f["rule"] for f in claim["findings"]]
    charge = Decimal(str(claim["claim"]["total"]["value"]))
    drop(
        flow,
        "1-claims.277",
        ack_277ca([ClaimVerdict(pcn, charge, payer_icn="PAYER7003")], when=flow.clock.now().date()),
    )
    flow.clock.advance(61)
    worker.drain()
    note = notification(with_charge_item(amended(bundle), "billed", "2"), 2)
    assert flow.client.post("/notifications", content=orjson.dumps(note), headers=NOTIFY).status_code == 202
    worker.drain()
    replaced = flow.claims()[key]
    assert (replaced["status"], replaced["version"]) == ("needs-replacement", 2)
    assert "96372" not in [i["productOrService"]["coding"][0]["code"] for i in replaced["claim"]["item"]]
