"""Subscription and notification builders: valid R4, shaped like the IG / Inferno examples."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from app.fhir.notifications_build import NotificationEvent, SubscriptionState, build_notification_bundle
from app.fhir.r4 import validate_resource
from app.fhir.subscriptions import (
    EXT_FILTER_CRITERIA,
    EXT_HEARTBEAT_PERIOD,
    EXT_PAYLOAD_CONTENT,
    SubscriptionSpecError,
    build_criteria_subscription,
    build_topic_subscription,
    needs_reactivation,
    reactivation,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"  # one copy of each example
SECRET = "0123456789abcdef-secret"
ENDPOINT = "https://claimbridge.example/notifications"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize("resource_type", ["Encounter", "Coverage", "ServiceRequest", "MedicationRequest"])
@pytest.mark.parametrize("content", ["empty", "id-only", "full-resource"])
def test_topic_subscription_is_valid_r4_with_backport_extensions(resource_type, content):
    sub = build_topic_subscription(
        resource_type=resource_type,
        topic=f"https://ehr.example/topics/{resource_type.lower()}",
        endpoint=ENDPOINT,
        secret=SECRET,
        filters=[f"{resource_type}?patient=Patient/1"],
        content=content,
        heartbeat_seconds=120,
    )
    validate_resource(sub)
    assert sub["status"] == "requested"
    assert sub["criteria"] == f"https://ehr.example/topics/{resource_type.lower()}"
    assert sub["_criteria"]["extension"] == [
        {"url": EXT_FILTER_CRITERIA, "valueString": f"{resource_type}?patient=Patient/1"}
    ]
    assert sub["channel"]["_payload"]["extension"] == [{"url": EXT_PAYLOAD_CONTENT, "valueCode": content}]
    assert sub["channel"]["extension"] == [{"url": EXT_HEARTBEAT_PERIOD, "valueUnsignedInt": 120}]
    assert sub["channel"]["header"] == [f"Authorization: Bearer {SECRET}"]
    assert sub["channel"]["type"] == "rest-hook"
    assert sub["channel"]["endpoint"] == ENDPOINT


def test_topic_subscription_matches_the_ig_example_shape():
    example = fixture("subscription_resource_example.json")
    sub = build_topic_subscription(
        resource_type="Encounter",
        topic=example["criteria"],
        endpoint="https://example.org/hook",
        secret=SECRET,
        filters=["Encounter.patient=Patient/123"],
        content="full-resource",
        heartbeat_seconds=86400,
        timeout_seconds=60,
        max_count=20,
    )
    assert sub["_criteria"] == example["_criteria"]
    assert sub["channel"]["extension"] == example["channel"]["extension"]
    assert sub["channel"]["_payload"] == example["channel"]["_payload"]
    assert sub["meta"] == example["meta"]


@pytest.mark.parametrize("resource_type", ["Encounter", "Coverage", "ServiceRequest", "MedicationRequest"])
def test_criteria_subscription_defaults(resource_type):
    sub = build_criteria_subscription(resource_type=resource_type, endpoint=ENDPOINT, secret=SECRET)
    validate_resource(sub)
    assert sub["criteria"].startswith(f"{resource_type}?")
    assert (
        build_criteria_subscription(resource_type="Encounter", endpoint=ENDPOINT, secret=SECRET)["criteria"]
        == "Encounter?status=arrived,in-progress,finished"
    )


@pytest.mark.parametrize("resource_type", ["ServiceRequest", "MedicationRequest"])
def test_order_criteria_watch_the_completed_orders_that_are_billed(resource_type):
    """Completed orders are what the mapper bills (docs/mapping.md); active ones go to prior auth."""
    criteria = build_criteria_subscription(resource_type=resource_type, endpoint=ENDPOINT, secret=SECRET)["criteria"]
    statuses = criteria.partition("status=")[2].split(",")
    assert {"active", "completed", "entered-in-error"} <= set(statuses), criteria


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint": "http://claimbridge.example/n"}, "https"),
        ({"secret": "short"}, "16 characters"),
        ({"resource_type": "Patient"}, "no subscription for 'Patient'"),
        ({"filters": ["Coverage?beneficiary=Patient/1"]}, "targets Coverage"),
        ({"filters": ["patient"]}, "is not"),
    ],
)
def test_bad_subscription_requests_are_refused(kwargs, message):
    args = {"resource_type": "Encounter", "topic": "https://t", "endpoint": ENDPOINT, "secret": SECRET, **kwargs}
    with pytest.raises(SubscriptionSpecError, match=message):
        build_topic_subscription(**args)


@pytest.mark.parametrize(
    ("status", "expected"), [("error", True), ("off", True), ("active", False), ("requested", False)]
)
def test_reactivation_decision(status, expected):
    sub = {**build_criteria_subscription(resource_type="Encounter", endpoint=ENDPOINT, secret=SECRET), "id": "s1"}
    sub["status"], sub["error"] = status, "delivery failed"
    assert needs_reactivation(sub) is expected
    body = reactivation(sub)
    if expected:
        assert body is not None
        assert body["status"] == "requested"
        assert "error" not in body
        assert sub["status"] == status  # input untouched
        validate_resource(body)
    else:
        assert body is None


STATE = SubscriptionState(
    base_url="https://fhirserver.org/fhir",
    subscription_id="123",
    topic="http://fhirserver.org/topics/patient-admission",
    status="active",
    events_since_start=1,
)
TIMESTAMP = "2020-05-29T11:44:13.1882432-05:00"


def normalised(bundle: dict) -> dict:
    """Replace the random status id (and its urn:uuid fullUrl) so bundles compare."""
    out = copy.deepcopy(bundle)
    out["entry"][0]["resource"]["id"] = "X"
    out["entry"][0]["fullUrl"] = "urn:uuid:X"
    return out


def encounter_focus() -> dict:
    return fixture("full_resource_notification_bundle_example.json")["entry"][1]["resource"]


@pytest.mark.parametrize(
    ("name", "kind", "status", "count", "content", "with_event"),
    [
        ("handshake_bundle_example.json", "handshake", "requested", 0, "id-only", False),
        ("heartbeat_bundle_example.json", "heartbeat", "active", 2, "id-only", False),
        ("id_only_notification_bundle_example.json", "event-notification", "active", 1, "id-only", True),
        ("full_resource_notification_bundle_example.json", "event-notification", "active", 1, "full-resource", True),
        ("empty_notification_bundle_example.json", "event-notification", "active", 1, "empty", True),
    ],
)
def test_notifications_match_the_inferno_examples(name, kind, status, count, content, with_event):
    expected = fixture(name)
    state = SubscriptionState(**{**STATE.__dict__, "status": status, "events_since_start": count})
    events = [NotificationEvent(1, TIMESTAMP, encounter_focus(), created=True)] if with_event else []
    built = build_notification_bundle(
        state, notification_type=kind, timestamp=TIMESTAMP, events=events, content=content, bundle_id=expected["id"]
    )
    validate_resource(built)
    if content == "empty":  # the IG says topic SHOULD NOT be sent with empty content; Inferno's example has it
        expected["entry"][0]["resource"]["parameter"] = [
            p for p in expected["entry"][0]["resource"]["parameter"] if p["name"] != "topic"
        ]
    assert normalised(built) == normalised(expected)
