"""The notification parser over every Inferno subscriptions fixture, plus hand-built variants."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import orjson
import pytest

from app.intake.notification import InvalidNotification, parse_notification, parse_status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def body(data: dict) -> bytes:
    return orjson.dumps(data)


def test_handshake_is_status_only() -> None:
    note = parse_notification(body(load("handshake_bundle_example.json")))
    assert (note.kind, note.subscription_id, note.status, note.events) == ("handshake", "123", "requested", ())
    assert note.events_since_start == 0
    assert not note.carries_work


def test_heartbeat_is_status_only() -> None:
    note = parse_notification(body(load("heartbeat_bundle_example.json")))
    assert note.kind == "heartbeat" and not note.carries_work


def test_empty_payload_event_has_number_but_no_focus() -> None:
    note = parse_notification(body(load("empty_notification_bundle_example.json")))
    assert note.kind == "event-notification" and note.content == "empty"
    assert [(e.number, e.focus) for e in note.events] == [(1, None)]


def test_id_only_event_names_its_focus_without_resource() -> None:
    note = parse_notification(body(load("id_only_notification_bundle_example.json")))
    assert note.content == "id-only" and note.resources == ()
    assert note.events[0].focus == "Encounter/86009987-eabe-42bf-8c02-b112b18cb616"


def test_full_resource_event_carries_the_encounter() -> None:
    note = parse_notification(body(load("full_resource_notification_bundle_example.json")))
    assert note.content == "full-resource"
    assert [r["resourceType"] for r, _ in note.resources] == ["Encounter"]
    assert note.bundle_id is not None


def test_non_conformant_bundle_is_rejected_naming_bdl3() -> None:
    with pytest.raises(InvalidNotification, match=r"entry\[0\] has no request.*bdl-3"):
        parse_notification(body(load("empty_notification_bundle_non_conformant_example.json")))


def test_status_searchset_is_not_a_notification_but_its_status_parses() -> None:
    data = load("subscription_status_example.json")
    with pytest.raises(InvalidNotification, match="searchset"):
        parse_notification(body(data))
    status = parse_status(data["entry"][0]["resource"])
    assert status.subscription_id == "123"


@pytest.mark.parametrize("name", ["capability_statement_example.json", "subscription_resource_example.json"])
def test_resources_claimbridge_does_not_process_are_refused(name: str) -> None:
    with pytest.raises(InvalidNotification, match="not a resource type claimbridge processes"):
        parse_notification(body(load(name)))


@pytest.mark.parametrize(
    "name", ["Subscription_empty.json", "Subscription_full-resource.json", "Subscription_id-only.json"]
)
def test_subscription_samples_are_not_notifications(name: str) -> None:
    with pytest.raises(InvalidNotification):
        parse_notification(body(load(name)))


def test_malformed_json() -> None:
    with pytest.raises(InvalidNotification, match="not valid JSON"):
        parse_notification(b'{"resourceType": "Bundle",')


def test_r5_notification_type_is_named() -> None:
    data = load("handshake_bundle_example.json")
    data["type"] = "subscription-notification"
    with pytest.raises(InvalidNotification, match="R5"):
        parse_notification(body(data))


def test_missing_response_breaks_bdl4() -> None:
    data = load("full_resource_notification_bundle_example.json")
    del data["entry"][1]["response"]
    with pytest.raises(InvalidNotification, match=r"entry\[1\].*bdl-4"):
        parse_notification(body(data))


def test_first_entry_must_be_parameters() -> None:
    data = load("full_resource_notification_bundle_example.json")
    data["entry"].reverse()
    with pytest.raises(InvalidNotification, match=r"entry\[0\]\.resource must be the subscription status"):
        parse_notification(body(data))


@pytest.mark.parametrize("param", ["subscription", "type", "status"])
def test_required_status_parameters(param: str) -> None:
    data = load("id_only_notification_bundle_example.json")
    params = data["entry"][0]["resource"]["parameter"]
    data["entry"][0]["resource"]["parameter"] = [p for p in params if p["name"] != param]
    with pytest.raises(InvalidNotification, match=param):
        parse_notification(body(data))


def test_event_number_must_be_an_integer() -> None:
    data = load("id_only_notification_bundle_example.json")
    event = next(p for p in data["entry"][0]["resource"]["parameter"] if p["name"] == "notification-event")
    event["part"][0]["valueString"] = "seven"
    with pytest.raises(InvalidNotification, match="event-number"):
        parse_notification(body(data))


def test_empty_notification_with_extra_entries_is_refused() -> None:
    data = load("empty_notification_bundle_example.json")
    extra = copy.deepcopy(load("full_resource_notification_bundle_example.json")["entry"][1])
    data["entry"].append(extra)
    with pytest.raises(InvalidNotification, match="must not carry other entries"):
        parse_notification(body(data))


def test_version_from_focus_meta_and_from_history_url() -> None:
    data = load("full_resource_notification_bundle_example.json")
    data["entry"][1]["resource"]["meta"] = {"versionId": "7"}
    assert parse_notification(body(data)).events[0].focus_version == "7"
    data = load("id_only_notification_bundle_example.json")
    data["entry"][1]["fullUrl"] += "/_history/3"
    assert parse_notification(body(data)).events[0].focus_version == "3"


def test_plain_rest_hook_resource_must_match_the_url() -> None:
    enc = {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "AMB"}}
    note = parse_notification(body(enc), path_type="Encounter", path_id="e1")
    assert (note.kind, note.events[0].focus) == ("rest-hook", "Encounter/e1")
    with pytest.raises(InvalidNotification, match="URL names Encounter/e2"):
        parse_notification(body(enc), path_type="Encounter", path_id="e2")


def test_empty_body_is_a_ping() -> None:
    assert parse_notification(b"").kind == "ping"
    assert parse_notification(b"  \n").kind == "ping"


def _urn_focus_notification(*, carried: bool) -> dict:
    """The PAS IG's shape: the focus is a ``urn:uuid`` reference to an entry's fullUrl."""
    data = load("full_resource_notification_bundle_example.json")
    urn = "urn:uuid:5d2f3b0e-6a4c-4d8e-9b1a-2f0c7e9d4a11"
    event = next(p for p in data["entry"][0]["resource"]["parameter"] if p["name"] == "notification-event")
    next(p for p in event["part"] if p["name"] == "focus")["valueReference"] = {"reference": urn}
    data["entry"][1]["fullUrl"] = urn if carried else "urn:uuid:00000000-0000-4000-8000-000000000000"
    return data


def test_a_urn_uuid_focus_resolves_to_the_carried_resource() -> None:
    note = parse_notification(body(_urn_focus_notification(carried=True)))
    assert note.events[0].focus == "Encounter/86009987-eabe-42bf-8c02-b112b18cb616"


def test_a_urn_uuid_focus_no_entry_carries_is_refused_naming_it() -> None:
    with pytest.raises(InvalidNotification, match="focus urn:uuid:5d2f3b0e"):
        parse_notification(body(_urn_focus_notification(carried=False)))


def test_a_full_resource_notification_without_its_focus_is_refused_naming_it() -> None:
    data = load("full_resource_notification_bundle_example.json")
    data["entry"][1]["resource"]["id"] = "someone-else"
    data["entry"][1]["fullUrl"] = "https://fhirserver.org/fhir/Encounter/someone-else"
    with pytest.raises(InvalidNotification, match="does not carry its focus Encounter/86009987"):
        parse_notification(body(data))
