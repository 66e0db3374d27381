"""FhirClient at the HTTP edge (respx): retries, error mapping, paging, round trips, write headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
import time_machine
from respx_ehr import BASE, install_defaults, make_client, outcome

from app.fhir.client import FhirClient
from app.fhir.errors import (
    FatalFhirError,
    FhirNetworkError,
    InvalidFhirResponse,
    RateLimited,
    ResourceGone,
    TemporaryFhirError,
    VersionConflict,
)
from tests.ehr import factories as f


@pytest.fixture
def router() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as mock:
        install_defaults(mock)
        yield mock


@pytest.fixture
async def client(router, es384_key, clock, sleeps) -> AsyncIterator[FhirClient]:
    fhir, http = make_client(es384_key, clock=clock, sleep=sleeps)
    async with http:
        yield fhir


def patient_json(pid: str = "p1") -> dict:
    return f.patient(pid)


async def test_503_three_times_then_200_is_retried_with_exponential_backoff(router, client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.Response(503, json=outcome("busy"))] * 3 + [httpx.Response(200, json=patient_json())]
    )
    resource = await client.read("Patient", "p1")
    assert resource["id"] == "p1"
    assert route.call_count == 4
    assert sleeps.delays == [0.25, 0.5, 1.0]  # rand=0.5 x 0.5 s x 2^n (full jitter)


async def test_temporary_errors_stop_after_the_attempt_budget(router, client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").respond(502, json=outcome("bad gateway"))
    with pytest.raises(TemporaryFhirError) as info:
        await client.read("Patient", "p1")
    assert route.call_count == 4
    assert len(sleeps.delays) == 3
    assert info.value.status == 502
    assert "bad gateway" in str(info.value)


async def test_429_retry_after_seconds_is_honoured(router, client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=patient_json())]
    )
    await client.read("Patient", "p1")
    assert route.call_count == 2
    assert sleeps.delays == [7.0]


@time_machine.travel("2024-03-01T12:00:00+00:00", tick=False)
async def test_429_retry_after_http_date_is_honoured(router, client, sleeps):
    later = "Fri, 01 Mar 2024 12:00:42 GMT"
    router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": later}), httpx.Response(200, json=patient_json())]
    )
    await client.read("Patient", "p1")
    assert sleeps.delays == [42.0]


async def test_retry_after_beyond_the_cap_gives_up(router, client, sleeps):
    router.get(f"{BASE}/Patient/p1").respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(RateLimited) as info:
        await client.read("Patient", "p1")
    assert info.value.retry_after == 3600.0
    assert sleeps.delays == []


@pytest.mark.parametrize("status", [404, 410])
async def test_404_and_410_are_resource_gone_and_not_retried(router, client, sleeps, status):
    route = router.get(f"{BASE}/Encounter/e1").respond(status, json=outcome(f"Encounter/e1 gone ({status})"))
    with pytest.raises(ResourceGone) as info:
        await client.read("Encounter", "e1")
    assert route.call_count == 1
    assert sleeps.delays == []
    assert info.value.status == status


async def test_operation_outcome_message_is_surfaced(router, client):
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "invalid", "diagnostics": "Claim.item[0].sequence is required"},
            {"severity": "error", "code": "invalid", "details": {"text": "total does not add up"}},
        ],
    }
    router.post(f"{BASE}/Claim").respond(422, json=body)
    with pytest.raises(FatalFhirError) as info:
        await client.create({"resourceType": "Claim", "status": "active"})
    assert "Claim.item[0].sequence is required; total does not add up" in str(info.value)
    assert info.value.outcome == body
    assert info.value.status == 422


async def test_network_errors_are_retried_for_reads(router, client, sleeps):
    route = router.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json=patient_json())]
    )
    assert (await client.read("Patient", "p1"))["id"] == "p1"
    assert route.call_count == 3
    assert len(sleeps.delays) == 2


async def test_plain_create_is_not_retried_when_the_server_may_have_acted(router, client):
    route = router.post(f"{BASE}/Task").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(FhirNetworkError):
        await client.create(f.task("t-1"))
    assert route.call_count == 1


async def test_plain_create_is_retried_on_503(router, client):
    created = {**f.task("t-2"), "id": "task-9", "meta": {"versionId": "1"}}
    route = router.post(f"{BASE}/Task").mock(
        side_effect=[httpx.Response(503), httpx.Response(201, json=created, headers={"ETag": 'W/"1"'})]
    )
    result = await client.create(f.task("t-2"))
    assert route.call_count == 2
    assert result.created
    assert result.version_id == "1"


async def test_search_follows_next_links_across_pages(router, client):
    pages = [
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "next", "url": f"{BASE}/Coverage?beneficiary=Patient/p1&_offset={n + 1}"}]
            if n < 2
            else [],
            "entry": [{"resource": f.coverage(f"c{n}{k}", patient_id="p1", payor_id="o1")} for k in range(2)],
        }
        for n in range(3)
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(parse_qs(urlsplit(str(request.url)).query).get("_offset", ["0"])[0])
        return httpx.Response(200, json=pages[offset])

    route = router.get(f"{BASE}/Coverage").mock(side_effect=answer)
    ids = [r["id"] async for r in client.search("Coverage", {"beneficiary": "Patient/p1"})]
    assert ids == ["c00", "c01", "c10", "c11", "c20", "c21"]
    assert route.call_count == 3


async def test_next_link_to_another_origin_is_refused(router, client):
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "next", "url": "https://evil.example/x"}],
    }
    router.get(f"{BASE}/Coverage").respond(json=bundle)
    with pytest.raises(InvalidFhirResponse):
        [r async for r in client.search("Coverage", {"status": "active"})]


def encounter_bundle(orders: int) -> dict:
    enc = f.encounter("e1", patient_id="p1", practitioner_id="dr1", organization_id="o1")
    included = [f.patient("p1"), f.practitioner("dr1"), f.organization("o1")]
    included += [f.service_request(f"sr{i}", encounter_id="e1", patient_id="p1") for i in range(orders)]
    entries = [{"resource": enc, "search": {"mode": "match"}}]
    entries += [{"resource": r, "search": {"mode": "include"}} for r in included]
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


@pytest.mark.parametrize("orders", [1, 10])
async def test_encounter_context_takes_two_round_trips_whatever_the_order_count(router, client, orders):
    enc_route = router.get(f"{BASE}/Encounter").respond(json=encounter_bundle(orders))
    cov_bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": f.coverage("c1", patient_id="p1", payor_id="o1")}],
    }
    cov_route = router.get(f"{BASE}/Coverage").respond(json=cov_bundle)
    fetched = await client.encounter_context("e1")
    fhir_calls = [
        c for c in router.calls if c.request.url.path.startswith("/fhir/") and ".well-known" not in c.request.url.path
    ]
    assert len(fhir_calls) == 2 == fetched.round_trips
    assert enc_route.call_count == 1
    assert cov_route.call_count == 1
    query = parse_qs(urlsplit(str(enc_route.calls[0].request.url)).query)
    assert query["_id"] == ["e1"]
    assert set(query["_revinclude"]) >= {
        "ServiceRequest:encounter",
        "MedicationRequest:encounter",
        "Condition:encounter",
    }
    assert parse_qs(urlsplit(str(cov_route.calls[0].request.url)).query)["beneficiary"] == ["Patient/p1"]
    types = [r["resourceType"] for r, _ in fetched.resources]
    assert types.count("ServiceRequest") == orders
    assert "Coverage" in types


async def test_read_many_batches_ids_in_one_search(router, client):
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": f.patient(p)} for p in ("a", "c")]}
    route = router.get(f"{BASE}/Patient").respond(json=bundle)
    found = await client.read_many("Patient", ["a", "b", "c"])
    assert sorted(found) == ["a", "c"]
    assert route.call_count == 1
    assert parse_qs(urlsplit(str(route.calls[0].request.url)).query)["_id"] == ["a,b,c"]


async def test_conditional_create_sends_if_none_exist_on_the_identifier(router, client):
    route = router.post(f"{BASE}/Task").respond(200, json={**f.task("t-7"), "id": "task-1"})
    result = await client.create_unique(f.task("t-7"))
    request = route.calls[0].request
    assert request.headers["If-None-Exist"] == "identifier=https://claimbridge.example/task|t-7"
    assert request.headers["Content-Type"] == "application/fhir+json"
    assert request.headers["Accept"] == "application/fhir+json"
    assert not result.created
    assert result.resource["id"] == "task-1"


async def test_update_sends_if_match_and_maps_412_to_version_conflict(router, client, sleeps):
    route = router.put(f"{BASE}/Task/task-1").respond(412, json=outcome("version 3 is stale"))
    with pytest.raises(VersionConflict, match="version 3 is stale"):
        await client.update({**f.task("t-8"), "id": "task-1"}, if_match_version="3")
    assert route.calls[0].request.headers["If-Match"] == 'W/"3"'
    assert route.call_count == 1
    assert sleeps.delays == []


async def test_vread_uses_history_path(router, client):
    route = router.get(f"{BASE}/Patient/p1/_history/2").respond(json={**patient_json(), "meta": {"versionId": "2"}})
    assert (await client.vread("Patient", "p1", "2"))["meta"]["versionId"] == "2"
    assert route.called


async def test_ids_that_could_escape_the_path_are_refused(client):
    with pytest.raises(ValueError, match="invalid FHIR id"):
        await client.read("Patient", "../Claim/1")
