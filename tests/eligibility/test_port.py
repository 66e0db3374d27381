"""The port's timeouts, retries and breaker (respx at the HTTP edge), the FHIR reading and the estimate."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from app.domain.eligibility import Benefit, EligibilityEndpoint, EligibilityRequest, EligibilityResult
from app.eligibility import fhir
from app.eligibility.estimate import estimate
from app.eligibility.port import EligibilityPort
from app.fhir.r4 import model_class, validate_resource, validate_with_models
from tests.eligibility.helpers import PAYER_URL, SUBMIT, office_visit_benefits, response

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
REQUEST = EligibilityRequest(
    coverage="Coverage/c1",
    patient="Patient/p1",
    payer_id="60054",
    payer_name="Buckeye",
    service_date=date(2026, 10, 6),
    member_id="M1",
    family="Doe",
    given="Ann",
    birth_date="1980-01-02",
    gender="female",
    provider_npi="1543829075",
    codes=("99213",),
    trace="t1",
)


def endpoint(**kw: Any) -> EligibilityEndpoint:
    return EligibilityEndpoint(adapter="fhir", fhir_base_url=PAYER_URL, backoff_base_seconds=0.01, **kw)


def verify(port: EligibilityPort, ep: EligibilityEndpoint) -> EligibilityResult:
    async def run() -> EligibilityResult:
        try:
            return await port.verify(REQUEST, ep)
        finally:
            await port.aclose()

    return asyncio.run(run())


def test_the_request_is_valid_r4() -> None:
    built = fhir.build_request(REQUEST, created=NOW)
    validate_resource(built)
    validate_with_models(built)  # and with fhir.resources' models
    request = model_class("CoverageEligibilityRequest").model_validate(built)
    contained = {c.id: c for c in request.contained}
    assert request.purpose == ["validation", "benefits"] and str(request.servicedDate) == "2026-10-06"
    assert (request.patient.reference, request.provider.reference, request.insurer.reference) == (
        "#patient", "#provider", "#insurer")  # fmt: skip
    assert [i.coverage.reference for i in request.insurance] == ["#coverage"] and request.insurance[0].focal
    assert contained["coverage"].subscriberId == "M1" and contained["patient"].birthDate.isoformat() == "1980-01-02"
    assert contained["insurer"].identifier[0].value == "60054"
    assert contained["provider"].identifier[0].value == "1543829075"
    assert [i.productOrService.coding[0].code for i in request.item if i.productOrService] == ["99213"]
    by_type = replace(REQUEST, service_types=("30", "98"))
    cats = [
        i["category"]["coding"][0]["code"] for i in fhir.build_request(by_type, created=NOW)["item"] if "category" in i
    ]
    assert cats == ["30", "98"]


def test_a_payer_that_hangs_is_cut_off_at_its_timeout() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    with respx.mock(assert_all_called=False) as payer:  # the call is cut off before respx records it
        payer.post(SUBMIT).mock(side_effect=hang)
        started = time.perf_counter()
        result = verify(EligibilityPort(clock=lambda: NOW), endpoint(timeout_seconds=0.2, max_attempts=1))
    assert time.perf_counter() - started < 25  # cut off: the payer would have answered after 30 s
    assert result.status == "unverified" and "no answer within 0.2 s" in (result.reason or "")


def test_the_breaker_opens_per_payer_and_a_refusal_is_not_retried() -> None:
    port = EligibilityPort(clock=lambda: NOW)
    ep = endpoint(max_attempts=2, breaker_threshold=2)
    with respx.mock() as payer:
        route = payer.post(SUBMIT).mock(return_value=httpx.Response(502))
        assert [verify(port, ep).status for _ in range(2)] == ["unverified", "unverified"]
        assert route.call_count == 4  # two verifications, two attempts each
        third = verify(port, ep)
        assert route.call_count == 4 and "circuit open" in (third.reason or "")
        route.mock(return_value=httpx.Response(400))
        refused = verify(EligibilityPort(clock=lambda: NOW), ep)
    assert route.call_count == 5 and "refused the request with 400" in (refused.reason or "")


def test_reading_cob_authorization_and_identity_errors() -> None:
    answer = response(items=[*office_visit_benefits(auth=True), {"category": {"coding": [{"code": "R"}]},
                                                                 "name": "Medicare Part B"}])  # fmt: skip
    result = fhir.read_response(fhir.unwrap(answer), REQUEST, now=NOW)
    assert (result.status, result.other_payer, result.authorization_required) == ("active", "Medicare Part B", ("30",))
    assert result.benefit_period == ("2026-01-01", "2026-12-31")
    copay = next(b for b in result.benefits if b.kind == "copay")
    assert (copay.amount, copay.network, copay.service_type) == (25.0, "in", "30")
    rejected = fhir.read_response(response(errors=["75", "58"]), REQUEST, now=NOW)
    assert rejected.status == "error" and [e.identity for e in rejected.errors] == [True, True]
    assert "date of birth" in rejected.errors[1].fix
    busy = fhir.read_response(response(errors=["42"]), REQUEST, now=NOW)
    assert busy.status == "unverified"
    with pytest.raises(ValueError, match="OperationOutcome"):
        fhir.unwrap({"resourceType": "OperationOutcome"})


def _result(*benefits: Benefit) -> EligibilityResult:
    return EligibilityResult("active", "Coverage/c1", "Patient/p1", "60054", "2026-10-06", NOW.isoformat(), "fhir",
                             benefits=benefits)  # fmt: skip


def test_the_patient_share_arithmetic() -> None:
    ded = Benefit("deductible", "30", "in", amount=1000.0, used=900.0)
    coins = Benefit("coinsurance", "30", "in", percent=0.2)
    lines = [("99214", Decimal("210.00")), ("81002", Decimal("12.50"))]
    est = estimate(_result(ded, coins), lines, allowed={"99214": 140.0})
    # allowed 140.00 (payer) + 12.50 (charge) = 152.50; deductible 100.00; 20 % of 52.50 = 10.50
    assert (est.allowed, est.deductible, est.coinsurance, est.patient_share) == (
        Decimal("152.50"), Decimal("100.00"), Decimal("10.50"), Decimal("110.50"))  # fmt: skip
    assert est.plan_pays == Decimal("42.00")
    assert est.steps[-2] == "patient share = 0.00 + 100.00 + 10.50 = 110.50"
    capped = estimate(_result(ded, coins, Benefit("out-of-pocket", "30", "in", amount=3000.0, used=2950.0)), lines,
                      allowed={"99214": 140.0})  # fmt: skip
    assert capped.patient_share == Decimal("50.00")
    out_of_network_only = estimate(_result(Benefit("copay", "30", "out", amount=30.0)), lines, allowed={})
    assert out_of_network_only.copay == Decimal("0.00")


def test_oauth2_client_credentials_token_is_fetched_once_and_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUCKEYE_ELIGIBILITY_SECRET", "test-secret-from-env")
    ep = endpoint(auth="oauth2-client-credentials", token_url="http://auth.test/token", client_id="cb",
                  client_secret_env="BUCKEYE_ELIGIBILITY_SECRET", scope="eligibility")  # fmt: skip
    port = EligibilityPort(clock=lambda: NOW)

    async def twice() -> list[str]:
        try:
            return [(await port.verify(REQUEST, ep)).status for _ in range(2)]
        finally:
            await port.aclose()

    with respx.mock() as server:
        token = server.post("http://auth.test/token").mock(
            return_value=httpx.Response(200, json={"access_token": "tok-1", "expires_in": 300, "token_type": "Bearer"})
        )
        submit = server.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        assert asyncio.run(twice()) == ["active", "active"]
    assert token.call_count == 1 and b"client_secret=test-secret-from-env" in token.calls.last.request.content
    assert submit.calls.last.request.headers["authorization"] == "Bearer tok-1"


def test_an_eligibility_section_without_an_endpoint_is_a_config_error(tmp_path: Any) -> None:
    from app.config.payers import effective_profile, load_payers
    from app.errors import ConfigError

    (tmp_path / "payers").mkdir()
    path = tmp_path / "payers" / "p.yaml"
    path.write_text("payer_id: P1\nname: P\ntimely_filing_days: 90\neligibility_max_age_days: 30\neligibility:\n"
                    "  timeout_seconds: 5\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r"p\.yaml:5: eligibility: .*fhir_base_url"):
        load_payers(tmp_path)
    path.write_text(path.read_text() + "  fhir_base_url: https://payer.example.org/fhir/\n")
    profile = load_payers(tmp_path).profile_for("P1")
    assert profile.eligibility is not None and profile.eligibility.adapter == "fhir"
    assert effective_profile(profile)["eligibility"]["fhir_base_url"] == "https://payer.example.org/fhir"
