"""FhirClient against the test EHR: search, includes, paging, writes and injected faults."""

from __future__ import annotations

import httpx
import pytest
from ehr_harness import running_ehr

from app.domain.context import build_contexts
from app.fhir.errors import FatalFhirError, ResourceGone, TemporaryFhirError, VersionConflict
from app.fhir.r4 import validate_resource
from tests.ehr import factories as f


@pytest.fixture
async def h(es384_key, clock, sleeps):
    async with running_ehr(es384_key, clock=clock, sleep=sleeps) as harness:
        yield harness


def seed_encounter(h, *, orders: int, eid: str = "e1", pid: str = "p1") -> None:
    h.ehr.seed(
        f.patient(pid),
        f.practitioner("dr1"),
        f.organization("o1"),
        f.organization("payer1"),
        f.encounter(eid, patient_id=pid, practitioner_id="dr1", organization_id="o1"),
        f.condition(f"{eid}-dx", encounter_id=eid, patient_id=pid),
        f.coverage(f"{pid}-cov", patient_id=pid, payor_id="payer1"),
        *[f.service_request(f"{eid}-sr{i}", encounter_id=eid, patient_id=pid) for i in range(orders)],
    )


@pytest.mark.parametrize("orders", [1, 10])
async def test_encounter_context_is_two_round_trips_for_any_number_of_orders(h, orders):
    seed_encounter(h, orders=orders)
    seed_encounter(h, orders=3, eid="other", pid="p2")  # must not leak in
    await h.client.read("Patient", "p1")  # discovery and token out of the way
    before = len(h.ehr.requests)
    fetched = await h.client.encounter_context("e1")
    assert h.ehr.requests[before:] == [("GET", "/fhir/Encounter"), ("GET", "/fhir/Coverage")]
    assert fetched.round_trips == 2
    keys = sorted(f"{r['resourceType']}/{r['id']}" for r, _ in fetched.resources)
    assert keys == sorted(
        ["Encounter/e1", "Patient/p1", "Practitioner/dr1", "Organization/o1", "Condition/e1-dx", "Coverage/p1-cov"]
        + [f"ServiceRequest/e1-sr{i}" for i in range(orders)]
    )
    (context,) = build_contexts(fetched.resources)
    assert len(context.linked("ServiceRequest")) == orders
    assert [c["id"] for c in context.coverages()] == ["p1-cov"]


async def test_missing_encounter_is_resource_gone(h):
    with pytest.raises(ResourceGone):
        await h.client.encounter_context("nope")


async def test_search_pages_with_count_and_next_links(h):
    h.ehr.seed(*[f.coverage(f"c{i}", patient_id="p1", payor_id="o1") for i in range(7)])
    h.ehr.seed(f.coverage("other", patient_id="p2", payor_id="o1"))
    ids = [r["id"] async for r in h.client.search("Coverage", {"beneficiary": "Patient/p1", "_count": "3"})]
    assert sorted(ids) == [f"c{i}" for i in range(7)]
    assert h.ehr.count("GET", "/fhir/Coverage") == 3


async def test_last_updated_filter(h, clock):
    h.ehr.seed(f.patient("old"))
    clock.advance(60)
    h.ehr.seed(f.patient("new"))
    cutoff = "2023-11-14T22:13:50Z"  # between the two writes (clock starts at 1_700_000_000)
    ids = [r["id"] async for r in h.client.search("Patient", {"_lastUpdated": f"gt{cutoff}"})]
    assert ids == ["new"]


async def test_unsupported_search_parameters_are_refused_with_the_servers_message(h):
    with pytest.raises(FatalFhirError, match="unsupported search parameter Patient:shoe-size") as info:
        [r async for r in h.client.search("Patient", {"shoe-size": "44"})]
    assert info.value.status == 400


async def test_read_many_and_vread(h):
    h.ehr.seed(f.patient("a"), f.patient("b"))
    await h.ehr.save({**f.patient("a"), "gender": "female"})
    found = await h.client.read_many("Patient", ["a", "b", "zz"])
    assert sorted(found) == ["a", "b"]
    assert found["a"]["meta"]["versionId"] == "2"
    first = await h.client.vread("Patient", "a", "1")
    assert "gender" not in first


async def test_conditional_create_is_idempotent(h):
    first = await h.client.create_unique(f.task("claim-42"))
    second = await h.client.create_unique(f.task("claim-42"))
    assert first.created
    assert not second.created
    assert first.resource["id"] == second.resource["id"]
    assert len(h.ehr.store.all_of("Task")) == 1


async def test_update_with_if_match_detects_a_concurrent_change(h):
    created = (await h.client.create_unique(f.task("claim-43"))).resource
    updated = await h.client.update({**created, "status": "accepted"}, if_match_version="1")
    assert updated.version_id == "2"
    with pytest.raises(VersionConflict):
        await h.client.update({**created, "status": "rejected"}, if_match_version="1")


async def test_injected_503s_then_success(h, sleeps):
    h.ehr.seed(f.patient("p1"))
    h.ehr.fail_next(3)
    assert (await h.client.read("Patient", "p1"))["id"] == "p1"
    assert len(sleeps.delays) == 3


async def test_injected_503s_beyond_the_budget_surface(h):
    h.ehr.seed(f.patient("p1"))
    h.ehr.fail_next(10)
    with pytest.raises(TemporaryFhirError, match="injected failure"):
        await h.client.read("Patient", "p1")


async def test_injected_429_retry_after_and_401_once(h, sleeps):
    h.ehr.seed(f.patient("p1"))
    h.ehr.rate_limit_next(retry_after="3")
    await h.client.read("Patient", "p1")
    assert sleeps.delays == [3.0]
    h.ehr.reject_token_once()
    await h.client.read("Patient", "p1")
    assert h.ehr.tokens.issued == 2


async def test_deleted_resource_is_gone(h):
    h.ehr.seed(f.patient("p1"))
    h.ehr.delete("Patient", "p1")
    with pytest.raises(ResourceGone) as info:
        await h.client.read("Patient", "p1")
    assert info.value.status == 410


async def test_response_delay_knob_uses_the_injected_sleep(es384_key, clock, sleeps):
    async with running_ehr(es384_key, clock=clock, sleep=sleeps) as h:
        delays: list[float] = []

        async def record(seconds: float) -> None:
            delays.append(seconds)

        h.ehr._sleep = record
        h.ehr.faults.delay_seconds = 0.25
        h.ehr.seed(f.patient("p1"))
        await h.client.read("Patient", "p1")
        assert delays
        assert set(delays) == {0.25}


async def test_capability_statement_is_valid_r4(h):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=h.ehr.app)) as raw:
        body = (await raw.get(f"{h.ehr.base_url}/metadata")).json()
    validate_resource(body)
    assert body["fhirVersion"] == "4.0.1"
