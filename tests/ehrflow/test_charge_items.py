"""ChargeItem and Procedure reach the claim through the EHR: their own subscriptions and the encounter fetch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.ehrflow.harness import running_flow

CPT = "http://www.ama-assn.org/go/cpt"


def ekg_charge(encounter: dict[str, Any], suffix: str) -> dict[str, Any]:
    return {
        "resourceType": "ChargeItem",
        "id": f"ci-ekg-{suffix}",
        "status": "billable",
        "code": {"coding": [{"system": CPT, "code": "93000"}]},
        "subject": encounter["subject"],
        "context": {"reference": f"Encounter/{encounter['id']}"},
    }


def ekg_procedure(encounter: dict[str, Any], suffix: str) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"proc-ekg-{suffix}",
        "status": "completed",
        "code": {"coding": [{"system": CPT, "code": "93000"}]},
        "subject": encounter["subject"],
        "encounter": {"reference": f"Encounter/{encounter['id']}"},
    }


def codes(claim: dict[str, Any]) -> list[str]:
    return [i["productOrService"]["coding"][0]["code"] for i in claim["claim"]["item"]]


async def test_the_encounter_fetch_brings_its_charge_items_and_procedures(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        encounter = await flow.seed_encounter(0, "ci", notify=False)
        flow.ehr.seed(ekg_charge(encounter, "a"), {**ekg_procedure(encounter, "b"), "code": {"coding": [
            {"system": CPT, "code": "96372"}]}})  # fmt: skip
        before = flow.ehr.count("GET", "/fhir/Encounter")
        await flow.ehr.save(encounter)
        flow.settle()
        (claim,) = flow.claims()
        assert "93000" in codes(claim) and "96372" in codes(claim)
        assert flow.ehr.count("GET", "/fhir/Encounter") - before == 1  # still one search for the context


async def test_a_new_charge_item_is_read_then_its_encounter_context(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        encounter = await flow.seed_encounter(0, "cj", notify=False)
        await flow.ehr.save(ekg_charge(encounter, "c"))
        flow.settle()
        (job,) = flow.jobs()
        assert job.focus == "ChargeItem/ci-ekg-c" and ":v1:" in job.result
        (claim,) = flow.claims()
        assert claim["encounter"] == f"Encounter/{encounter['id']}" and "93000" in codes(claim)


async def test_a_procedure_recorded_as_done_is_billed(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        encounter = await flow.seed_encounter(0, "ck", notify=False)
        await flow.ehr.save(ekg_procedure(encounter, "d"))
        flow.settle()
        (job,) = flow.jobs()
        assert job.focus == "Procedure/proc-ekg-d"
        (claim,) = flow.claims()
        assert "93000" in codes(claim)
