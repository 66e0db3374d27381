"""Failing and passing variations for the rules over real-time eligibility results (History.verifications)."""

from __future__ import annotations

from typing import Any

from app.domain.eligibility import EligibilityResult, payer_error
from tests.rules.cases import Case
from tests.rules.factories import Scenario, eligibility_response


def result(status: str = "active", at: str = "2026-03-01", *, coverage: str = "Coverage/cov1",
           **kw: Any) -> dict[str, Any]:  # fmt: skip
    return EligibilityResult(status, coverage, "Patient/pat1", "60054", "2026-03-02", f"{at}T10:00:00+00:00", "fhir",
                             **kw).to_dict()  # fmt: skip


def _with(*results: dict[str, Any], cer: bool = True):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.verifications = list(results)
        if not cer:
            sc.eligibility = []

    return change


def _auth_on_claim(sc: Scenario) -> None:
    sc.verifications = [result(authorization_required=("30",))]
    sc.claim["insurance"][0]["preAuthRef"] = ["AUTH-1"]


CASES = [
    Case("eligibility.payer-inactive",
         fail=[_with(result("inactive")), _with(result("active", inforce=False))],
         ok=[_with(result()), _with(result("inactive", coverage="Coverage/other")),
             _with(result("inactive", "2026-02-01"), result("active", "2026-03-01"))]),
    Case("eligibility.payer-benefit-period",
         fail=[_with(result(benefit_period=("2026-03-03", None))),
               _with(result(benefit_period=("2025-01-01", "2026-03-01"))),
               _with(result(benefit_period=("2025", "2026-02")))],  # FHIR dateTime: year or month precision
         ok=[_with(result(benefit_period=("2026-01-01", "2026-12-31"))), _with(result(benefit_period=(None, None))),
             _with(result(benefit_period=("2026", "2026-03"))), _with(result(benefit_period=("2026-03", "2026")))]),
    Case("eligibility.payer-identity",
         fail=[_with(result("error", errors=(payer_error("72"),))),
               _with(result("error", errors=(payer_error("58"),)))],
         ok=[_with(result("error", errors=(payer_error("50"),))), _with(result())]),
    Case("eligibility.payer-rejected",
         fail=[_with(result("error", errors=(payer_error("50"),)))],
         ok=[_with(result("error", errors=(payer_error("72"),))),
             _with(result("unverified", errors=(payer_error("42"),)))]),
    Case("eligibility.payer-other-primary",
         fail=[_with(result(other_payer="Medicare Part B"))],
         ok=[_with(result()), _with(result("unverified", other_payer="ignored: not an answer"))]),
    Case("prior-auth.payer-authorization-required",
         fail=[_with(result(authorization_required=("30",)))],
         ok=[_auth_on_claim, _with(result())]),
    Case("eligibility.unverified",
         fail=[_with(result("unverified", reason="timeout")),
               _with(result("active", "2026-02-01"), result("unverified", "2026-03-01", reason="503"))],
         ok=[_with(result("unverified", "2026-02-01"), result("active", "2026-03-01")), _with(result())]),
    Case("eligibility.verification-stale",  # the latest timestamp: an EHR response or a real-time answer
         fail=[_with(result("active", "2025-12-01"), cer=False), _with(result("unverified"), cer=False)],
         ok=[_with(result("active", "2026-03-01"), cer=False),
             lambda sc: (_with(result("active", "2026-03-01"))(sc),
                         setattr(sc, "eligibility", [eligibility_response("2025-12-01")]))]),
]  # fmt: skip
