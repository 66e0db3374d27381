"""Subscriptions end to end against the test EHR: handshake, event numbers, gaps, $status, $events."""

from __future__ import annotations

import httpx
import pytest
from ehr_harness import RECEIVER, running_ehr

from app.fhir.errors import FatalFhirError
from app.fhir.r4 import validate_resource
from app.fhir.subscriptions import build_criteria_subscription, build_topic_subscription, reactivation
from tests.ehr import factories as f
from tests.ehr.receiver import status_parameters
from tests.ehr.subs import TOPIC_BASE

SECRET = "s3cret-token-for-notifications"


@pytest.fixture
async def h(es384_key, clock, sleeps):
    async with running_ehr(es384_key, clock=clock, sleep=sleeps) as harness:
        yield harness


async def subscribe(h, *, content="id-only", filters=("Encounter.patient=Patient/p1",)) -> dict:
    body = build_topic_subscription(
        resource_type="Encounter",
        topic=f"{TOPIC_BASE}/encounter",
        endpoint=RECEIVER,
        secret=SECRET,
        filters=filters,
        content=content,
    )
    return (await h.client.create(body)).resource


async def test_created_subscription_is_handshaken_then_active(h):
    subscription = await subscribe(h)
    assert subscription["status"] == "active"
    (handshake,) = h.receiver.received
    assert handshake.method == "POST"
    assert handshake.path == "/notifications"
    assert handshake.headers["authorization"] == f"Bearer {SECRET}"
    assert handshake.headers["content-type"] == "application/fhir+json"
    params = status_parameters(handshake.body)
    assert params["type"] == "handshake"
    assert params["status"] == "requested"
    assert params["events-since-subscription-start"] == "0"
    assert params["notification-event"] == []
    validate_resource(handshake.body)


async def test_event_numbers_increase_and_filters_apply(h):
    subscription = await subscribe(h)
    for status in ("in-progress", "finished"):
        await h.ehr.save(f.encounter("e1", patient_id="p1", status=status))
    await h.ehr.save(f.encounter("e9", patient_id="someone-else"))
    await h.ehr.save(f.encounter("e2", patient_id="p1"))
    events = [status_parameters(b) for b in h.receiver.bundles()[1:]]
    assert [e["events-since-subscription-start"] for e in events] == ["1", "2", "3"]
    assert [e["notification-event"][0]["event-number"] for e in events] == ["1", "2", "3"]
    focus = [e["notification-event"][0]["focus"]["reference"] for e in events]
    assert focus == [f"{h.ehr.base_url}/Encounter/{i}" for i in ("e1", "e1", "e2")]
    requests = [b["entry"][1]["request"] for b in h.receiver.bundles()[1:]]
    assert requests == [
        {"method": "POST", "url": "Encounter"},
        {"method": "PUT", "url": "Encounter/e1"},
        {"method": "POST", "url": "Encounter"},
    ]
    assert all("resource" not in b["entry"][1] for b in h.receiver.bundles()[1:])  # id-only
    assert subscription["id"] in h.ehr.hub.channels


async def test_dropped_notifications_leave_a_gap_that_events_and_status_recover(h):
    subscription = await subscribe(h, content="full-resource")
    sid = subscription["id"]
    h.ehr.drop_notifications(sid, 2, 3)
    for n in range(1, 5):
        await h.ehr.save(f.encounter(f"e{n}", patient_id="p1"))
    delivered = [status_parameters(b)["notification-event"][0]["event-number"] for b in h.receiver.bundles()[1:]]
    assert delivered == ["1", "4"]

    status_bundle = await h.client.operation("Subscription", "status", resource_id=sid)
    (status,) = [status_parameters({"entry": [e]}) for e in status_bundle["entry"]]
    assert status["type"] == "query-status"
    assert status["events-since-subscription-start"] == "4"

    replay = await h.client.operation(
        "Subscription", "events", resource_id=sid, params={"eventsSinceNumber": "2", "eventsUntilNumber": "3"}
    )
    validate_resource(replay)
    replayed = status_parameters(replay)
    assert replayed["type"] == "query-event"
    assert [e["event-number"] for e in replayed["notification-event"]] == ["2", "3"]
    assert [e["resource"]["id"] for e in replay["entry"][1:]] == ["e2", "e3"]


async def test_heartbeat_is_sent_on_demand_without_counting_an_event(h):
    subscription = await subscribe(h)
    await h.ehr.save(f.encounter("e1", patient_id="p1"))
    assert await h.ehr.send_heartbeat(subscription["id"])
    heartbeat = status_parameters(h.receiver.bundles()[-1])
    assert heartbeat["type"] == "heartbeat"
    assert heartbeat["events-since-subscription-start"] == "1"
    assert heartbeat["notification-event"] == []


async def test_failed_delivery_sets_error_and_reactivation_handshakes_again(h):
    subscription = await subscribe(h)
    h.receiver.status = 500
    await h.ehr.save(f.encounter("e1", patient_id="p1"))
    current = await h.client.read("Subscription", subscription["id"])
    assert current["status"] == "error"
    await h.ehr.save(f.encounter("e2", patient_id="p1"))  # counted, not sent
    assert len(h.receiver.received) == 2

    h.receiver.status = 200
    body = reactivation(current)
    assert body is not None
    assert body["status"] == "requested"
    result = await h.client.update(body, if_match_version=current["meta"]["versionId"])
    assert result.resource["status"] == "active"
    handshake = status_parameters(h.receiver.bundles()[-1])
    assert handshake["type"] == "handshake"
    assert handshake["events-since-subscription-start"] == "2"
    await h.ehr.save(f.encounter("e3", patient_id="p1"))
    assert status_parameters(h.receiver.bundles()[-1])["events-since-subscription-start"] == "3"


async def test_unsupported_topic_and_filters_are_rejected(h):
    body = build_topic_subscription(
        resource_type="Encounter", topic="https://elsewhere.example/topic", endpoint=RECEIVER, secret=SECRET
    )
    with pytest.raises(FatalFhirError, match="unsupported topic"):
        await h.client.create(body)
    body = build_topic_subscription(
        resource_type="Encounter",
        topic=f"{TOPIC_BASE}/encounter",
        endpoint=RECEIVER,
        secret=SECRET,
        filters=["Encounter.location=Location/1"],
    )
    with pytest.raises(FatalFhirError, match="location"):
        await h.client.create(body)


@pytest.mark.parametrize("with_payload", [True, False])
async def test_plain_r4_criteria_subscription(h, with_payload):
    body = build_criteria_subscription(
        resource_type="Encounter", endpoint=RECEIVER, secret=SECRET, with_payload=with_payload
    )
    assert (await h.client.create(body)).resource["status"] == "active"
    await h.ehr.save(f.encounter("e1", patient_id="p1", status="planned"))  # outside the criteria: not sent
    await h.ehr.save(f.encounter("e1", patient_id="p1", status="finished"))
    (received,) = h.receiver.received
    assert received.headers["authorization"] == f"Bearer {SECRET}"
    if with_payload:
        assert (received.method, received.path) == ("PUT", "/notifications/Encounter/e1")
        assert received.body["status"] == "finished"
    else:
        assert (received.method, received.body) == ("POST", None)


async def test_delivery_to_an_unreachable_endpoint_errors_the_subscription(es384_key, clock, sleeps):
    async with running_ehr(es384_key, clock=clock, sleep=sleeps) as h:

        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        h.ehr.hub.notifier = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
        async with h.ehr.hub.notifier:
            subscription = await subscribe(h)
        assert subscription["status"] == "error"
