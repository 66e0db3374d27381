"""Topic discovery: the IG's CapabilityStatement example, topic definitions (R4 Basic, R4B SubscriptionTopic)."""

from __future__ import annotations

import json
from pathlib import Path

from app.ehr.discovery import read_capabilities, read_topic, topics_by_type, unresolved
from app.fhir.scopes import missing_scopes
from tests.ehr.metadata import topic_definition

FIXTURES = Path(__file__).parent.parent / "fixtures" / "conformance"
ADMISSION = "http://fhirserver.org/topics/patient-admission"
DISCHARGE = "http://fhirserver.org/topics/patient-discharge"


def ig_statement() -> dict:
    return json.loads((FIXTURES / "capability_statement_example.json").read_text())


def r4b_topic(url: str, *resources: str) -> dict:
    triggers = [{"resource": r, "supportedInteraction": ["create", "update"]} for r in resources]
    return {"resourceType": "SubscriptionTopic", "url": url, "status": "active", "resourceTrigger": triggers}


def test_the_ig_example_advertises_its_topics_and_events() -> None:
    caps = read_capabilities(ig_statement())
    assert caps.topics == (ADMISSION, DISCHARGE)
    assert caps.supports_events and caps.fhir_version == "4.0.1"
    assert caps.topic_listings == ()  # it lists no topic definitions: their types stay unknown
    assert topics_by_type(caps, []) == {} and unresolved(caps, []) == (ADMISSION, DISCHARGE)


def test_types_come_from_the_resource_triggers_not_the_url() -> None:
    statement = ig_statement()
    statement["rest"][0]["resource"].append({"type": "Basic", "interaction": [{"code": "search-type"}]})
    caps = read_capabilities(statement)
    assert caps.topic_listings == ("Basic",)
    admission = read_topic(topic_definition(ADMISSION, "Encounter", "t1"))
    assert admission is not None and admission.resource_types == ("Encounter",)
    other = read_topic(r4b_topic("https://ehr.example/topics/orders", "ServiceRequest", "MedicationRequest"))
    assert other is not None
    assert topics_by_type(caps, [other, admission]) == {
        "Encounter": ADMISSION,
        "ServiceRequest": "https://ehr.example/topics/orders",
        "MedicationRequest": "https://ehr.example/topics/orders",
    }
    assert unresolved(caps, [admission, other]) == (DISCHARGE,)


def test_an_advertised_topic_wins_over_one_only_listed() -> None:
    caps = read_capabilities(ig_statement())
    listed = read_topic(
        r4b_topic("https://ehr.example/topics/encounter", "http://hl7.org/fhir/StructureDefinition/Encounter")
    )
    advertised = read_topic(r4b_topic(DISCHARGE, "Encounter"))
    assert listed is not None and advertised is not None
    assert topics_by_type(caps, [listed, advertised]) == {"Encounter": DISCHARGE}


def test_read_topic_ignores_other_basic_resources() -> None:
    assert read_topic({"resourceType": "Basic", "code": {"coding": [{"code": "referral"}]}}) is None
    assert read_topic({"resourceType": "SubscriptionTopic", "resourceTrigger": []}) is None  # no url


def test_missing_scopes_reads_wildcards_v1_names_and_query_limits() -> None:
    asked = ("system/Encounter.rs", "system/Task.crus", "system/ClaimResponse.cs")
    assert missing_scopes(asked, "system/*.rs system/Task.cu system/ClaimResponse.cs") == ()
    assert missing_scopes(asked, "system/*.rs") == ("system/Task.crus", "system/ClaimResponse.cs")
    assert missing_scopes(asked, "system/*.read system/*.write") == ()
    assert missing_scopes(asked, "system/*.*") == ()
    assert missing_scopes(asked, "patient/*.cruds system/Encounter.rs") == asked[1:]
    assert missing_scopes(("system/Encounter.rs",), "system/Encounter.rs?status=finished") == ("system/Encounter.rs",)
    assert missing_scopes(asked, None) == ()  # no scope in the answer: what was asked (RFC 6749 5.1)
