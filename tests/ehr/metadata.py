"""Discovery documents of the test EHR: the CapabilityStatement, the SMART configuration, and its topic
definitions (the backport IG's R4 form: ``Basic`` coded ``fhir-types|SubscriptionTopic`` with the
cross-version ``extension-SubscriptionTopic.url`` and ``.resourceTrigger`` extensions)."""

from __future__ import annotations

from typing import Any

from tests.ehr.subs import TOPICS

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"
CROSS_VERSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"


def topic_definition(url: str, resource_type: str, topic_id: str) -> dict[str, Any]:
    """One topic as a backport R4 ``Basic`` resource triggering on ``resource_type``."""
    trigger = [
        {"url": "resource", "valueUri": f"http://hl7.org/fhir/StructureDefinition/{resource_type}"},
        {"url": "supportedInteraction", "valueCode": "create"},
        {"url": "supportedInteraction", "valueCode": "update"},
    ]
    return {
        "resourceType": "Basic",
        "id": topic_id,
        "code": {"coding": [{"system": "http://hl7.org/fhir/fhir-types", "code": "SubscriptionTopic"}]},
        "extension": [
            {"url": f"{CROSS_VERSION}.url", "valueUri": url},
            {"url": f"{CROSS_VERSION}.resourceTrigger", "extension": trigger},
        ],
    }


def topic_definitions() -> list[dict[str, Any]]:
    return [topic_definition(url, t, f"topic-{t.lower()}") for url, t in TOPICS.items()]


def smart_configuration(token_url: str) -> dict[str, Any]:
    return {
        "token_endpoint": token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": ["system/*.rs"],
        "capabilities": ["client-confidential-asymmetric"],
    }


def capability_statement(base_url: str, token_url: str) -> dict[str, Any]:
    topic_ext = [
        {"url": f"{BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical", "valueCanonical": t}
        for t in TOPICS
    ]
    resources = [
        {"type": t, "interaction": [{"code": c} for c in ("read", "vread", "search-type", "create", "update")]}
        for t in (
            "Encounter",
            "Patient",
            "Coverage",
            "ServiceRequest",
            "MedicationRequest",
            "ChargeItem",
            "Procedure",
            "Condition",
        )
    ]
    resources.append({"type": "Basic", "interaction": [{"code": c} for c in ("read", "search-type")]})
    resources.append(
        {
            "type": "Subscription",
            "extension": topic_ext,
            "interaction": [{"code": c} for c in ("read", "create", "update", "delete")],
            "operation": [
                {"name": "status", "definition": f"{BACKPORT}/OperationDefinition/backport-subscription-status"},
                {"name": "events", "definition": f"{BACKPORT}/OperationDefinition/backport-subscription-events"},
            ],
        }
    )
    oauth = {
        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
        "extension": [{"url": "token", "valueUri": token_url}],
    }
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2024-01-01",
        "kind": "instance",
        "instantiates": [f"{BACKPORT}/CapabilityStatement/backport-subscription-server-r4"],
        "implementation": {"description": "claimbridge test EHR", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{"mode": "server", "security": {"extension": [oauth]}, "resource": resources}],
    }
