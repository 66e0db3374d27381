"""The CDS services claimbridge offers, one per hook, and the discovery document. Pure.

Prefetch templates use only first-level context tokens (CDS Hooks 2.0 §prefetch); the primary
coverage comes with its payer Organization (``_include``) so the payer profile can be found, and
authorizations already on file come as preauthorization ClaimResponses. Each service declares the
CRD versions it implements and one boolean configuration option per card type it can return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CRD_VERSIONS = ("2.2", "2.1", "2.0")

PATIENT = "Patient/{{context.patientId}}"
COVERAGE = "Coverage?patient={{context.patientId}}&status=active&_include=Coverage:payor"
AUTHORIZATIONS = "ClaimResponse?patient={{context.patientId}}&use=preauthorization"
ENCOUNTER = "Encounter/{{context.encounterId}}"

CONFIG_OPTIONS: tuple[dict[str, Any], ...] = (
    {"code": "coverage-info", "type": "boolean", "name": "Coverage information",
     "description": "Return coverage information (covered, prior authorization needed) on each order.",
     "default": True},
    {"code": "insurance", "type": "boolean", "name": "Insurance cards",
     "description": "Cards saying which orders need prior authorization and from which payer.",
     "default": True},
    {"code": "max-cards", "type": "integer", "name": "Maximum cards",
     "description": "The most cards to return in one response.", "default": 10},
)  # fmt: skip


@dataclass(frozen=True)
class HookService:
    id: str
    hook: str
    title: str
    description: str
    orders_key: str | None  # the context key holding the orders (a Bundle, or a list of references)
    with_encounter: bool = False
    primary: bool = False  # CRD primary hooks return coverage information (hook-16)

    def prefetch(self) -> dict[str, str]:
        templates = {"patient": PATIENT, "coverage": COVERAGE, "authorizations": AUTHORIZATIONS}
        if self.with_encounter:
            templates["encounter"] = ENCOUNTER
        return templates

    def discovery(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
            "prefetch": self.prefetch(),
            "extension": {
                "davinci-crd.version": list(CRD_VERSIONS),
                "davinci-crd.configuration-options": [dict(o) for o in CONFIG_OPTIONS],
            },
        }


SERVICES: dict[str, HookService] = {s.id: s for s in (
    HookService("order-sign-crd", "order-sign", "claimbridge coverage requirements at order signing",
                "Says, for every draft order, whether the patient's payer requires prior authorization "
                "(the same payer rules that check the claim) and whether one is on file.",
                "draftOrders", primary=True),
    HookService("order-select-crd", "order-select", "claimbridge coverage requirements at order selection",
                "Early notice that a selected order needs prior authorization from the patient's payer.",
                "draftOrders"),
    HookService("order-dispatch-crd", "order-dispatch", "claimbridge coverage requirements at order dispatch",
                "Coverage and prior-authorization requirements for the orders being dispatched to a performer.",
                "dispatchedOrders", primary=True),
    HookService("appointment-book-crd", "appointment-book", "claimbridge coverage requirements at booking",
                "Prior-authorization requirements of the orders an appointment is based on.",
                "appointments", with_encounter=True, primary=True),
    HookService("encounter-start-crd", "encounter-start", "claimbridge coverage check at encounter start",
                "Whether the patient has active coverage claimbridge can bill, and open authorizations.",
                None, with_encounter=True),
)}  # fmt: skip
BY_HOOK: dict[str, HookService] = {s.hook: s for s in SERVICES.values()}


def discovery_document() -> dict[str, Any]:
    """``GET /cds-services``."""
    return {"services": [s.discovery() for s in SERVICES.values()]}
