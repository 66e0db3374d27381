"""Factories for CDS Hooks requests and a conformance checker for CDS responses (CDS Hooks 2.0 + CRD)."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from app.cds.coverage_info import COVERAGE_INFORMATION, violations
from app.fhir.r4 import InvalidResource, validate_resource

CONFORMANCE = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"
PAYER_ID = "urn:claimbridge:payer-id"
BUCKEYE = "60054"  # config/payers/buckeye-mutual.yaml: 72148 needs prior auth, 20610 from 2 units
CPT = "http://www.ama-assn.org/go/cpt"
CARD_TYPES = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"


def fixture(path: str) -> Any:
    return json.loads((CONFORMANCE / path).read_text())


def service_request(sr_id: str, code: str, *, units: float | None = None, patient: str = "p1") -> dict[str, Any]:
    sr: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": sr_id,
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": CPT, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "authoredOn": "2026-12-01",
        "requester": {"reference": "Practitioner/dr1"},
    }
    if units is not None:
        sr["quantityQuantity"] = {"value": units}
    return sr


def coverage(payer: str = BUCKEYE, *, patient: str = "p1", cov_id: str = "cov1") -> list[dict[str, Any]]:
    """A Coverage and its payer Organization (as ``_include`` brings it)."""
    org = {
        "resourceType": "Organization",
        "id": f"org-{payer}",
        "name": "A payer",
        "identifier": [{"system": PAYER_ID, "value": payer}],
    }
    cov = {
        "resourceType": "Coverage",
        "id": cov_id,
        "status": "active",
        "subscriberId": "ABC123456",
        "beneficiary": {"reference": f"Patient/{patient}"},
        "payor": [{"reference": f"Organization/{org['id']}"}],
    }
    return [cov, org]


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def order_sign(
    orders: list[dict[str, Any]],
    *,
    prefetch: dict[str, Any] | None = None,
    patient: str = "p1",
    server: str = "https://ehr.example/fhir",
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": server,
        "fhirAuthorization": {
            "access_token": "ehr-token",
            "token_type": "Bearer",
            "expires_in": 30,
            "scope": "user/Coverage.read",
            "subject": "claimbridge",
        },
        "context": {
            "userId": "Practitioner/dr1",
            "patientId": patient,
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]},
        },
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    if config is not None:
        body["extension"] = {"davinci-crd.configuration": config}
    return copy.deepcopy(body)


def with_coverage(orders: list[dict[str, Any]], payer: str = BUCKEYE, **kw: Any) -> dict[str, Any]:
    return order_sign(
        orders,
        prefetch={"patient": {"resourceType": "Patient", "id": "p1"}, "coverage": searchset(coverage(payer))},
        **kw,
    )


def coverage_informations(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Order reference -> its coverage-information sub-extensions as {url: [values]}."""
    out = {}
    for action in response.get("systemActions") or ():
        resource = action["resource"]
        for ext in resource.get("extension") or ():
            if ext.get("url") == COVERAGE_INFORMATION:
                values: dict[str, Any] = {}
                for part in ext["extension"]:
                    value = next((v for k, v in part.items() if k.startswith("value")), part)
                    values.setdefault(part["url"], []).append(value)
                out[f"{resource['resourceType']}/{resource['id']}"] = values
    return out


def _nonempty(value: Any, where: str) -> None:
    """CDS Hooks: attributes are never null, "", [] or {} (cards: [] excepted)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert item not in (None, "", [], {}) or (key == "cards" and item == []), f"{where}.{key} empty"
            _nonempty(item, f"{where}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _nonempty(item, f"{where}[{n}]")


def check_card(card: dict[str, Any], *, ours: bool = True) -> None:
    assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert card["source"]["label"]
    assert "detail" not in card or isinstance(card["detail"], str)
    for suggestion in card.get("suggestions") or ():
        assert suggestion["label"]
        assert suggestion.get("uuid") or not ours, "CRD resp-3: every suggestion has a uuid"
        assert card.get("selectionBehavior") in ("at-most-one", "any") or not ours
        for action in suggestion.get("actions") or ():
            check_action(action, ours=ours)
    for link in card.get("links") or ():
        assert link["label"] and link["url"] and link["type"] in ("absolute", "smart")


def check_action(action: dict[str, Any], *, ours: bool = True) -> None:
    assert action["type"] in ("create", "update", "delete")
    assert action.get("description") or not ours, "CDS Hooks 2.0: an action has a description"
    if action["type"] == "delete":
        assert action["resourceId"]
        return
    resource = action["resource"]
    ours_ext = [e for e in resource.get("extension") or () if e.get("url") == COVERAGE_INFORMATION]
    try:
        validate_resource(resource)  # R4, whole resource
    except InvalidResource:  # only acceptable when the EHR's own order already was not R4 (an Inferno fixture)
        bare = {**resource, "extension": [e for e in resource["extension"] if e not in ours_ext]}
        with pytest.raises(InvalidResource):
            validate_resource(bare)
        validate_resource({"resourceType": "Basic", "code": {"text": "x"}, "extension": ours_ext})
    for ext in resource.get("extension") or ():
        if ext.get("url") == COVERAGE_INFORMATION:
            assert violations(ext) == [], violations(ext)


def check_response(response: dict[str, Any], *, ours: bool = True) -> None:
    """A conformant CDS Hooks response; ``ours``: also CRD's card rules claimbridge follows (uuid, topic)."""
    assert isinstance(response["cards"], list)
    _nonempty(response, "response")
    for card in response["cards"]:
        check_card(card, ours=ours)
        if ours:
            assert card["uuid"] and card["source"]["topic"]["system"] == CARD_TYPES
    for action in response.get("systemActions") or ():
        check_action(action, ours=ours)
    ids = [v["coverage-assertion-id"][0] for v in coverage_informations(response).values()]
    assert len(ids) == len(set(ids)), "coverage-assertion-id must be unique"


class CdsClientKeys:
    """A CDS client's key pair (made in the test) and JWTs signed with it."""

    def __init__(self, iss: str = "https://ehr.example/cds-client", alg: str = "ES384") -> None:
        self.iss, self.alg = iss, alg
        self.key = (
            ECKey.generate_key("P-384", private=True)
            if alg.startswith("ES")
            else RSAKey.generate_key(2048, private=True)
        )
        self.kid = self.key.thumbprint()

    def jwks(self) -> dict[str, Any]:
        jwk = dict(self.key.as_dict(private=False))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return {"keys": [jwk]}

    def token(self, aud: str, *, header: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.iss, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
        head = {"alg": self.alg, "typ": "JWT", "kid": self.kid, **(header or {})}
        head = {k: v for k, v in head.items() if v is not None}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(head, payload, self.key, algorithms=[self.alg])
