"""Discovery documents of the test EHR: the CapabilityStatement and the SMART configuration."""

from __future__ import annotations

from typing import Any

from tests.ehr.subs import TOPICS

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"


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
    resources.append(
        {
            "type": "Subscription",
            "extension": topic_ext,
            "interaction": [{"code": c} for c in ("read", "create", "update")],
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
