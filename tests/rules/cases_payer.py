"""Failing and passing variations for the eligibility and prior-auth rules."""

from __future__ import annotations

import copy

from tests.pas_fixtures import claim_response, review_item
from tests.rules.cases import Case
from tests.rules.factories import VARIANTS, Scenario, eligibility_response

PA_VARIANTS = [v for v in VARIANTS if v.payer_id != "01112"]  # Medicare has no prior-auth list here


def _coverage(**changes: object):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.res["coverage"].update(changes)

    return change


def _second_coverage(order: int | None, status: str = "active"):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        other = copy.deepcopy(sc.res["coverage"])
        other.update(id="cov2", status=status, subscriberId="ZX99887766")
        if order is None:
            other.pop("order")
            sc.res["coverage"].pop("order")
        else:
            other["order"] = order
        sc.res["coverage2"] = other

    return change


def _focal_second(sc: Scenario) -> None:
    sc.claim["insurance"] = [
        {"sequence": 1, "focal": False, "coverage": {"reference": "Coverage/old"}},
        {"sequence": 2, "focal": True, "coverage": {"reference": "Coverage/cov1"}},
    ]


def _eligibility(*responses: dict[str, object]):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.eligibility = list(responses)

    return change


def _error_response(sc: Scenario) -> None:
    resp = eligibility_response("2026-03-01")
    resp["outcome"] = "error"
    sc.eligibility = [resp]


def _mri(sc: Scenario) -> None:
    sc.add_item("72148", net=400.0)


def _auth(sc: Scenario, start: str = "2026-02-01", end: str = "2026-04-30", units: float = 1) -> None:
    sc.claim["insurance"][0]["preAuthRef"] = ["PA-7731"]
    sc.authorizations = [{"number": "PA-7731", "period": {"start": start, "end": end}, "codes": ["72148"],
                          "units": units, "patient": {"reference": "Patient/p1"}}]  # fmt: skip


def _second_auth(sc: Scenario, *, on_line: bool) -> None:
    """A brain MRI with its own authorization PA-8800: cited on its line, or on the insurance too."""
    line = sc.add_item("70553", net=600.0)
    if on_line:
        line["extension"] = [{"url": "urn:claimbridge:line-prior-auth", "valueString": "PA-8800"}]
    else:
        sc.claim["insurance"][0]["preAuthRef"].append("PA-8800")
    sc.authorizations.append({"number": "PA-8800", "period": {"start": "2026-02-01", "end": "2026-04-30"},
                              "codes": ["70553"], "units": 1, "patient": {"reference": "Patient/p1"}})  # fmt: skip


def _auth_response(sc: Scenario, end: str) -> None:
    sc.claim["insurance"][0]["preAuthRef"] = ["PA-7731"]
    sc.authorizations = [{
        "resourceType": "ClaimResponse", "id": "pa1", "status": "active", "use": "preauthorization",
        "outcome": "complete", "patient": {"reference": "Patient/p1"}, "preAuthRef": "PA-7731",
        "preAuthPeriod": {"start": "2026-02-01", "end": end},
        "addItem": [{"productOrService": {"coding": [{"code": "72148"}]}, "quantity": {"value": 1}}],
    }]  # fmt: skip


def _pas_response(*items: dict[str, object]):  # type: ignore[no-untyped-def]
    """The Da Vinci PAS approval fixture, its items replaced (review actions per item), the claim citing PA-7731."""

    def change(sc: Scenario) -> None:
        sc.claim["insurance"][0]["preAuthRef"] = ["PA-7731"]
        response = claim_response("valid_pa_response_bundle.json")
        response.update(id="pas1", patient={"reference": "Patient/p1"}, item=list(items))
        sc.authorizations = [response]

    return change


_WINDOW = ("2026-02-01", "2026-04-30")


def _earlier_mri_claim(sc: Scenario) -> None:
    other = sc.copy_claim("c0")
    other["item"] = [copy.deepcopy(sc.items[-1])]
    other["item"][0]["servicedDate"] = "2026-02-20"
    other["item"][0]["encounter"] = [{"reference": "Encounter/e0"}]
    sc.prior_claims = [other]


CASES = [
    Case("eligibility.coverage-missing",
         fail=[lambda sc: sc.claim["insurance"][0].update(coverage={"reference": "Coverage/nope"}),
               lambda sc: sc.claim.pop("insurance")],
         ok=[_focal_second]),
    Case("eligibility.coverage-inactive",
         fail=[_coverage(status="cancelled"), _coverage(status="draft")],
         ok=[_coverage(period={"start": "2020-01-01"})]),
    Case("eligibility.coverage-period",
         fail=[_coverage(period={"start": "2025-01-01", "end": "2026-02-28"}),
               _coverage(period={"start": "2026-03-03"})],
         ok=[_coverage(period={"start": "2026-03-02", "end": "2026-03-02"}), _coverage(period={})]),
    Case("eligibility.verification-stale",
         fail=[_eligibility(eligibility_response("2025-12-01")), _eligibility(), _error_response],
         ok=[_eligibility(eligibility_response("2026-03-05")),
             _eligibility(eligibility_response("2025-06-01", rid="a"), eligibility_response("2026-02-20"))]),
    Case("eligibility.verification-inactive",
         fail=[_eligibility(eligibility_response("2026-03-01", inforce=False))],
         ok=[_eligibility(eligibility_response("2026-01-01", inforce=False, rid="a"),
                          eligibility_response("2026-02-27"))]),
    Case("eligibility.cob-order-missing",
         fail=[_second_coverage(None), _second_coverage(1)],
         ok=[_second_coverage(2), _second_coverage(None, status="cancelled")]),
    Case("prior-auth.prior-auth-missing",
         fail=[_mri, lambda sc: sc.add_item("70553", net=600.0)],
         ok=[lambda sc: (_mri(sc), _auth(sc)), lambda sc: sc.add_item("71046", net=60.0)],
         variants=PA_VARIANTS),
    Case("prior-auth.prior-auth-missing",  # an authorization on file does not replace preAuthRef on the claim
         fail=[lambda sc: (_mri(sc), _auth(sc), sc.claim["insurance"][0].pop("preAuthRef"))],
         ok=[lambda sc: (_mri(sc), _auth(sc))],
         variants=PA_VARIANTS),
    Case("prior-auth.prior-auth-missing",  # one authorization no longer clears every line
         fail=[lambda sc: (_mri(sc), _auth(sc), sc.add_item("70553", net=600.0))],
         ok=[lambda sc: (_mri(sc), _auth(sc), _second_auth(sc, on_line=True)),
             lambda sc: (_mri(sc), _auth(sc), _second_auth(sc, on_line=False))],
         variants=PA_VARIANTS),
    Case("prior-auth.prior-auth-missing",  # Lakeshore lists CT head only in hospital outpatient settings
         fail=[lambda sc: sc.add_item("70450", net=300.0, pos="22")],
         ok=[lambda sc: sc.add_item("70450", net=300.0, pos="11")],
         variants=[v for v in VARIANTS if v.payer_id == "LKSH1"]),
    Case("prior-auth.prior-auth-missing",  # Buckeye lists joint injections from 2 units
         fail=[lambda sc: sc.add_item("20610", net=140.0, qty=2)],
         ok=[lambda sc: sc.add_item("20610", net=70.0, qty=1)],
         variants=[v for v in VARIANTS if v.payer_id == "60054"]),
    Case("prior-auth.authorization-expired",
         fail=[lambda sc: (_mri(sc), _auth(sc, end="2026-02-28")),
               lambda sc: (_mri(sc), _auth_response(sc, end="2026-02-28"))],
         ok=[lambda sc: (_mri(sc), _auth(sc)), lambda sc: (_mri(sc), _auth_response(sc, end="2026-03-02"))],
         variants=PA_VARIANTS),
    Case("prior-auth.authorization-expired",  # PAS: the item's own window decides
         fail=[lambda sc: (_mri(sc), _pas_response(review_item(1, "A1", number="PA-7731", code="72148",
                                                               period=("2026-02-01", "2026-02-28")))(sc))],
         ok=[lambda sc: (_mri(sc), _pas_response(review_item(1, "A1", number="PA-7731", code="72148",
                                                             period=_WINDOW))(sc))],
         variants=PA_VARIANTS),
    Case("prior-auth.authorization-units-exceeded",  # PAS partial approval: the units approved, not requested
         fail=[lambda sc: (_mri(sc), _pas_response(review_item(1, "A2", number="PA-7731", code="72148", quantity=1,
                                                               period=_WINDOW))(sc), _earlier_mri_claim(sc))],
         ok=[lambda sc: (_mri(sc), _pas_response(review_item(1, "A2", number="PA-7731", code="72148", quantity=2,
                                                             period=_WINDOW))(sc), _earlier_mri_claim(sc)),
             lambda sc: (_mri(sc), _pas_response(review_item(1, "A3", number="PA-7731", code="72148", quantity=1,
                                                             period=_WINDOW))(sc), _earlier_mri_claim(sc))],
         variants=PA_VARIANTS),
    Case("prior-auth.authorization-units-exceeded",
         fail=[lambda sc: (_mri(sc), _auth(sc), _earlier_mri_claim(sc)),
               lambda sc: (_mri(sc), _auth_response(sc, end="2026-04-30"), _earlier_mri_claim(sc))],
         ok=[lambda sc: (_mri(sc), _auth(sc, units=2), _earlier_mri_claim(sc))],
         variants=PA_VARIANTS),
    Case("prior-auth.referral-missing",
         fail=[lambda sc: sc.claim.pop("referral")],
         ok=[lambda sc: None],
         variants=[v for v in VARIANTS if v.payer_id == "SCHMO"]),
    Case("prior-auth.referral-missing",
         fail=[],
         ok=[lambda sc: sc.claim.pop("referral")],
         variants=[v for v in VARIANTS if v.payer_id != "SCHMO"]),
]  # fmt: skip
