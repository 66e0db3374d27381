"""Hand-built FHIR R4 inputs for rule tests: one clean scenario per payer that passes every rule.

A :class:`Scenario` holds plain resource dicts (mutate them freely in a test), the History and the
date "today"; ``check()`` runs the real engine with the shipped payer profiles, rule sets and the
SYNTHETIC reference tables. Codes come from the project vocabulary; NPIs carry real check digits.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from stdnum import luhn

from app.config.payers import load_payers
from app.config.rulesets import load_rulesets
from app.domain.context import build_contexts
from app.domain.findings import Finding
from app.domain.history import History
from app.domain.payers import PayerDirectory
from app.refdata import RefData
from app.rules import RuleSets, check_claim

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
NDC = "http://hl7.org/fhir/sid/ndc"
NPI = "http://hl7.org/fhir/sid/us-npi"
TIN = "urn:oid:2.16.840.1.113883.4.4"
CLIA = "urn:oid:2.16.840.1.113883.4.7"
PAYER_ID = "urn:claimbridge:payer-id"
DOS = date(2026, 3, 2)
TODAY = date(2026, 3, 10)

# payer id -> (name, a subscriber id of the right shape)
PAYERS = {
    "01112": ("Medicare", "1EG4TE5MK73"),
    "MCDOH": ("Ohio Medicaid", "104455667788"),
    "60054": ("Buckeye Mutual Health Plan", "BMH4471902"),
    "LKSH1": ("Lakeshore Health Alliance", "LHA20417733"),
    "SCHMO": ("Summit Care HMO", "SC8812003"),
}


def make_npi(first9: str) -> str:
    """A valid NPI from its first 9 digits (Luhn over 80840 + NPI)."""
    return first9 + luhn.calc_check_digit("80840" + first9)


BILLING_NPI = make_npi("123456789")  # 1234567893, the CMS example
RENDERING_NPI = make_npi("191230195")
REFERRING_NPI = make_npi("145678901")


def coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def item(seq: int, code: str, *, net: float, qty: float = 1, dx: tuple[int, ...] = (1,), pos: str = "11",
         system: str = CPT, dos: date = DOS, modifiers: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    line: dict[str, Any] = {
        "sequence": seq,
        "careTeamSequence": [1],
        "diagnosisSequence": list(dx),
        "productOrService": coding(system, code),
        "servicedDate": dos.isoformat(),
        "locationCodeableConcept": coding(POS, pos),
        "quantity": {"value": qty},
        "unitPrice": {"value": net / qty, "currency": "USD"},
        "net": {"value": net, "currency": "USD"},
        "encounter": [{"reference": "Encounter/e1"}],
    }
    if modifiers:
        line["modifier"] = [coding(CPT, m) for m in modifiers]
    return line


def dx(seq: int, code: str) -> dict[str, Any]:
    return {"sequence": seq, "diagnosisCodeableConcept": coding(ICD, code)}


@dataclass
class Scenario:
    payer_id: str
    refdata: RefData
    payers: PayerDirectory
    rules: RuleSets
    res: dict[str, dict[str, Any]]
    claim: dict[str, Any]
    eligibility: list[dict[str, Any]] = field(default_factory=list)
    prior_claims: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[dict[str, Any]] = field(default_factory=list)
    verifications: list[dict[str, Any]] = field(default_factory=list)  # real-time eligibility results
    today: date = TODAY

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.claim["item"]  # type: ignore[no-any-return]

    def add_item(self, code: str, *, net: float = 50.0, **kw: Any) -> dict[str, Any]:
        kw.setdefault("pos", self.pos)
        line = item(len(self.items) + 1, code, net=net, **kw)
        self.items.append(line)
        self.retotal()
        return line

    @property
    def pos(self) -> str:
        return str(self.items[0]["locationCodeableConcept"]["coding"][0]["code"])

    def retotal(self) -> None:
        self.claim["total"] = {"value": round(sum(i["net"]["value"] for i in self.items if "net" in i), 2),
                               "currency": "USD"}  # fmt: skip

    def set_pos(self, pos: str) -> None:
        for line in self.items:
            line["locationCodeableConcept"] = coding(POS, pos)

    def findings(self) -> list[Finding]:
        ctx = build_contexts(list(self.res.values()))[0]
        history = History(prior_claims=tuple(self.prior_claims), eligibility=tuple(self.eligibility),
                          authorizations=tuple(self.authorizations),
                          verifications=tuple(self.verifications))  # fmt: skip
        return check_claim(self.claim, ctx, rules=self.rules, payers=self.payers, refdata=self.refdata,
                           history=history, today=self.today)  # fmt: skip

    def rule_ids(self) -> set[str]:
        return {f.rule for f in self.findings()}

    def copy_claim(self, claim_id: str, **changes: Any) -> dict[str, Any]:
        other = copy.deepcopy(self.claim)
        other["id"] = claim_id
        other.update(changes)
        return other


def resources(payer_id: str, enc_class: str) -> dict[str, dict[str, Any]]:
    name, member = PAYERS[payer_id]
    return {
        "patient": {"resourceType": "Patient", "id": "p1", "name": [{"family": "Rivera", "given": ["Ana"]}],
                    "birthDate": "1970-03-14", "gender": "female"},
        "billing": {
            "resourceType": "Organization", "id": "org1", "name": "Riverside Family Medicine",
            "identifier": [{"system": NPI, "value": BILLING_NPI}, {"system": TIN, "value": "12-3456789"},
                           {"system": CLIA, "value": "36D0912345"}],
            "address": [{"line": ["100 Main St"], "city": "Columbus", "state": "OH", "postalCode": "43215-1234"}],
        },
        "practitioner": {"resourceType": "Practitioner", "id": "pr1",
                         "identifier": [{"system": NPI, "value": RENDERING_NPI}]},
        "referrer": {"resourceType": "Practitioner", "id": "pr2",
                     "identifier": [{"system": NPI, "value": REFERRING_NPI}]},
        "referral": {"resourceType": "ServiceRequest", "id": "ref1", "status": "completed", "intent": "order",
                     "subject": {"reference": "Patient/p1"}, "requester": {"reference": "Practitioner/pr2"}},
        "payer": {"resourceType": "Organization", "id": "payer1", "name": name,
                  "identifier": [{"system": PAYER_ID, "value": payer_id}]},
        "coverage": {
            "resourceType": "Coverage", "id": "cov1", "status": "active", "order": 1, "subscriberId": member,
            "beneficiary": {"reference": "Patient/p1"}, "payor": [{"reference": "Organization/payer1"}],
            "period": {"start": "2025-01-01", "end": "2026-12-31"},
        },
        "encounter": {
            "resourceType": "Encounter", "id": "e1", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": enc_class},
            "subject": {"reference": "Patient/p1"}, "period": {"start": "2026-03-02T09:00:00-05:00"},
            "serviceProvider": {"reference": "Organization/org1"},
        },
        "note": {"resourceType": "DocumentReference", "id": "note1", "status": "current", "docStatus": "final",
                 "type": coding("http://loinc.org", "11506-3"),
                 "context": {"encounter": [{"reference": "Encounter/e1"}]}},
    }  # fmt: skip


def base_claim(pos: str) -> dict[str, Any]:
    items = [
        item(1, "99213", net=120.0, dx=(1, 2), pos=pos),
        item(2, "36415", net=15.0, pos=pos),
        item(3, "80053", net=40.0, pos=pos),
    ]
    return {
        "resourceType": "Claim", "id": "c1", "status": "active", "use": "claim",
        "type": coding("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
        "patient": {"reference": "Patient/p1"}, "created": "2026-03-03",
        "provider": {"reference": "Organization/org1"}, "insurer": {"reference": "Organization/payer1"},
        "priority": coding("http://terminology.hl7.org/CodeSystem/processpriority", "normal"),
        "billablePeriod": {"start": DOS.isoformat(), "end": DOS.isoformat()},
        "referral": {"reference": "ServiceRequest/ref1"},
        "careTeam": [{"sequence": 1, "provider": {"reference": "Practitioner/pr1"},
                      "role": coding("http://terminology.hl7.org/CodeSystem/claimcareteamrole", "primary")}],
        "diagnosis": [dx(1, "E11.9"), dx(2, "I10")],
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov1"}}],
        "item": items,
        "total": {"value": 175.0, "currency": "USD"},
    }  # fmt: skip


def eligibility_response(created: str, *, inforce: bool = True, rid: str = "elig1") -> dict[str, Any]:
    return {
        "resourceType": "CoverageEligibilityResponse", "id": rid, "status": "active", "purpose": ["validation"],
        "patient": {"reference": "Patient/p1"}, "created": created, "outcome": "complete",
        "insurer": {"reference": "Organization/payer1"},
        "insurance": [{"coverage": {"reference": "Coverage/cov1"}, "inforce": inforce}],
    }  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """Fields a rule should not care about: payer, encounter class and the matching POS."""

    payer_id: str
    enc_class: str
    pos: str

    def __str__(self) -> str:
        return f"{self.payer_id}-{self.enc_class}-{self.pos}"


VARIANTS = (
    Variant("01112", "AMB", "11"),
    Variant("MCDOH", "VR", "10"),
    Variant("60054", "AMB", "22"),
    Variant("LKSH1", "VR", "02"),
    Variant("SCHMO", "AMB", "11"),
)


def scenario(variant: Variant, refdata: RefData) -> Scenario:
    return Scenario(
        payer_id=variant.payer_id,
        refdata=refdata,
        payers=_payers(),
        rules=_rules(),
        res=resources(variant.payer_id, variant.enc_class),
        claim=base_claim(variant.pos),
        eligibility=[eligibility_response("2026-02-27")],
    )


_CACHE: dict[str, Any] = {}


def _payers() -> PayerDirectory:
    if "payers" not in _CACHE:
        _CACHE["payers"] = load_payers(CONFIG)
    return _CACHE["payers"]  # type: ignore[no-any-return]


def _rules() -> RuleSets:
    if "rules" not in _CACHE:
        _CACHE["rules"] = load_rulesets(CONFIG)
    return _CACHE["rules"]  # type: ignore[no-any-return]
