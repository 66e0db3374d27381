"""The FHIR adapter: an R4 ``CoverageEligibilityRequest`` out, a ``CoverageEligibilityResponse`` in.

``POST {fhir_base_url}/{submit_path}`` (default ``CoverageEligibilityRequest/$submit``) with a
request for purposes ``validation`` and ``benefits``: patient, insurer, provider and the coverage are
contained resources (the payer cannot resolve our references), ``servicedDate`` is the visit's date
of service, one item per service type (X12 service type codes as ``ex-benefitcategory``) and per
procedure code known. The answer may be the bare resource, a ``Parameters`` wrapping it (``return``)
or a ``Bundle`` holding it.

Read back: ``outcome`` / ``disposition`` (the payer's words), ``insurance.inforce``,
``benefitPeriod``, ``item.benefit`` (copay, coinsurance ``copay-percent``, deductible, out-of-pocket:
allowed and used), ``item.authorizationRequired``, ``error`` (AAA codes understood when a payer
uses them; an ``outcome: error`` without one becomes error ``outcome-error`` with the disposition, so
the claim is held and the front desk gets a Task, never a silent pass), and a COB hint: an item in
category ``R`` (X12 "other or additional payer").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.domain.eligibility import Benefit, EligibilityRequest, EligibilityResult, PayerError, payer_error
from app.eligibility.errors import InvalidPayerResponse

BENEFIT_CATEGORY = "http://terminology.hl7.org/CodeSystem/ex-benefitcategory"
BENEFIT_TYPE = "http://terminology.hl7.org/CodeSystem/benefit-type"
CPT = "http://www.ama-assn.org/go/cpt"
NPI = "http://hl7.org/fhir/sid/us-npi"
PAYER_ID = "urn:claimbridge:payer-id"
REQUEST_ID = "urn:claimbridge:eligibility-request"
#: The error code of an ``outcome: error`` answer that names no ``error`` (its text: the disposition).
OUTCOME_ERROR = "outcome-error"
_KINDS = {
    "copay": "copay",
    "copay-percent": "coinsurance",
    "coinsurance": "coinsurance",
    "deductible": "deductible",
    "copay-maximum": "out-of-pocket",
    "out-of-pocket": "out-of-pocket",
    "benefit": "limit",
    "visit": "limit",
}


def build_request(req: EligibilityRequest, *, created: datetime) -> dict[str, Any]:
    """The CoverageEligibilityRequest for one verification (a valid R4 resource)."""
    patient: dict[str, Any] = {"resourceType": "Patient", "id": "patient"}
    if req.family or req.given:
        patient["name"] = [
            {k: v for k, v in (("family", req.family), ("given", [req.given] if req.given else None)) if v}
        ]
    if req.birth_date:
        patient["birthDate"] = req.birth_date
    if req.gender in ("male", "female", "other", "unknown"):
        patient["gender"] = req.gender
    insurer = {"resourceType": "Organization", "id": "insurer", "name": req.payer_name,
               "identifier": [{"system": PAYER_ID, "value": req.payer_id}]}  # fmt: skip
    provider: dict[str, Any] = {"resourceType": "Organization", "id": "provider"}
    if req.provider_npi:
        provider["identifier"] = [{"system": NPI, "value": req.provider_npi}]
    if req.provider_name:
        provider["name"] = req.provider_name
    coverage: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": "coverage",
        "status": "active",
        "beneficiary": {"reference": "#patient"},
        "payor": [{"reference": "#insurer"}],
    }
    if req.member_id:
        coverage["subscriberId"] = req.member_id
    items: list[dict[str, Any]] = [
        {"category": {"coding": [{"system": BENEFIT_CATEGORY, "code": st}]}} for st in req.service_types
    ]
    items += [{"productOrService": {"coding": [{"system": CPT, "code": code}]}} for code in req.codes]
    resource: dict[str, Any] = {
        "resourceType": "CoverageEligibilityRequest",
        "contained": [patient, insurer, provider, coverage],
        "status": "active",
        "purpose": ["validation", "benefits"],
        "patient": {"reference": "#patient"},
        "servicedDate": req.service_date.isoformat(),
        "created": created.isoformat(),
        "provider": {"reference": "#provider"},
        "insurer": {"reference": "#insurer"},
        "insurance": [{"focal": True, "coverage": {"reference": "#coverage"}}],
        "item": items,
    }
    if req.trace:
        resource["identifier"] = [{"system": REQUEST_ID, "value": req.trace}]
    return resource


def unwrap(body: Any) -> dict[str, Any]:
    """The CoverageEligibilityResponse in a bare, Parameters-wrapped or Bundle answer."""
    if isinstance(body, dict):
        kind = body.get("resourceType")
        if kind == "CoverageEligibilityResponse":
            return body
        if kind == "Parameters":
            for param in body.get("parameter") or ():
                found = param.get("resource") if isinstance(param, dict) else None
                if isinstance(found, dict) and found.get("resourceType") == "CoverageEligibilityResponse":
                    return found
        if kind == "Bundle":
            for entry in body.get("entry") or ():
                found = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(found, dict) and found.get("resourceType") == "CoverageEligibilityResponse":
                    return found
        if kind == "OperationOutcome":
            raise InvalidPayerResponse("payer answered an OperationOutcome, not a CoverageEligibilityResponse",
                                       words=outcome_words(body))  # fmt: skip
        raise InvalidPayerResponse(f"payer answered a {kind or 'non-FHIR'} resource, not a CoverageEligibilityResponse")
    raise InvalidPayerResponse("payer answered something that is not a JSON object")


def outcome_words(body: Any, *, limit: int = 300) -> str | None:
    """The issues of an OperationOutcome answer (details.text, else diagnostics, else the code), or None."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return None
    said = []
    for issue in body.get("issue") or ():
        if not isinstance(issue, dict):
            continue
        raw = issue.get("details")
        details: dict[str, Any] = raw if isinstance(raw, dict) else {}
        text = details.get("text") or issue.get("diagnostics") or _code(details) or issue.get("code")
        if isinstance(text, str) and text.strip():
            said.append(text.strip())
    return "; ".join(said)[:limit] or None


def read_response(
    resp: dict[str, Any], req: EligibilityRequest, *, now: datetime, latency: float | None = None
) -> EligibilityResult:
    """One CoverageEligibilityResponse as a stored result."""
    errors = tuple(_error(e) for e in resp.get("error") or () if isinstance(e, dict))
    insurance = _insurance(resp)
    inforce = insurance.get("inforce") if isinstance(insurance.get("inforce"), bool) else None
    period = insurance.get("benefitPeriod") if isinstance(insurance.get("benefitPeriod"), dict) else None
    benefits: list[Benefit] = []
    auth: list[str] = []
    other_payer = None
    for item in insurance.get("item") or ():
        if not isinstance(item, dict):
            continue
        category = _code(item.get("category"))
        service = category or _code(item.get("productOrService"))
        if category == "R":
            other_payer = item.get("name") or item.get("description") or "another payer"
            continue
        if item.get("authorizationRequired") is True:
            auth.append(service or "?")
        benefits += _benefits(item, service)
    outcome = resp.get("outcome")
    words = resp.get("disposition") or (f"outcome {outcome}" if outcome else None)
    status, reason = _status(outcome, errors, inforce)
    if status == "error" and not errors:  # ``outcome: error`` with no ``error`` element: still a refusal to act on
        errors = (payer_error(OUTCOME_ERROR, resp.get("disposition") or "the payer answered outcome error, no reason"),)
    return EligibilityResult(
        status=status,
        coverage=req.coverage,
        patient=req.patient,
        payer_id=req.payer_id,
        service_date=req.service_date.isoformat(),
        checked_at=now.isoformat(),
        source="fhir",
        outcome=words,
        inforce=inforce,
        benefit_period=(period.get("start"), period.get("end")) if period else None,
        benefits=tuple(benefits),
        errors=errors,
        other_payer=other_payer,
        authorization_required=tuple(auth),
        reason=reason,
        latency_seconds=latency,
        response_id=resp.get("id") if isinstance(resp.get("id"), str) else None,
    )


def _status(outcome: Any, errors: tuple[PayerError, ...], inforce: bool | None) -> tuple[str, str | None]:
    if errors and all(e.temporary for e in errors):
        return "unverified", "the payer could not answer now: " + "; ".join(e.text for e in errors)
    if errors:
        return "error", None
    if outcome == "queued":
        return "unverified", "the payer queued the request without an answer"
    if outcome == "error":
        return "error", None
    if inforce is False:
        return "inactive", None
    return "active", None


def _insurance(resp: dict[str, Any]) -> dict[str, Any]:
    for ins in resp.get("insurance") or ():
        if isinstance(ins, dict):
            return ins
    return {}


def _code(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def _error(err: dict[str, Any]) -> PayerError:
    raw = err.get("code")
    concept: dict[str, Any] = raw if isinstance(raw, dict) else {}
    code = _code(concept) or "unknown"
    text = concept.get("text") or next(
        (c.get("display") for c in concept.get("coding") or () if isinstance(c, dict) and c.get("display")), None
    )
    return payer_error(code, text)


def _money(value: Any) -> float | None:
    if isinstance(value, dict) and isinstance(value.get("value"), int | float):
        return float(value["value"])
    return None


def _benefits(item: dict[str, Any], service: str | None) -> list[Benefit]:
    network = _code(item.get("network"))
    level = _code(item.get("unit"))
    period = _code(item.get("term"))
    out = []
    for ben in item.get("benefit") or ():
        if not isinstance(ben, dict):
            continue
        kind = _KINDS.get(_code(ben.get("type")) or "", "other")
        allowed, used = _money(ben.get("allowedMoney")), _money(ben.get("usedMoney"))
        percent = None
        if kind == "coinsurance":
            raw = ben.get("allowedUnsignedInt") if isinstance(ben.get("allowedUnsignedInt"), int) else None
            percent = raw / 100 if raw is not None else None
            allowed = None
        remaining = allowed - used if allowed is not None and used is not None else None
        out.append(
            Benefit(
                kind=kind, service_type=service, network=network if network in ("in", "out") else None,
                level=level, period=period, amount=allowed, used=used, remaining=remaining, percent=percent,
                authorization_required=item.get("authorizationRequired")
                if isinstance(item.get("authorizationRequired"), bool) else None,
                text=item.get("name") or item.get("description"),
            )
        )  # fmt: skip
    return out
