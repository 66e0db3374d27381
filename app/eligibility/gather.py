"""What a verification asks, read from the mirror: the Coverage, its patient, its payer, the provider.

:func:`request_for` answers the request and the payer's endpoint, or a :class:`Skip` saying why
there is nothing to verify (the Coverage is gone, the payer has no ``eligibility`` section, the
appointment was cancelled or moved). Reads only; runs inside the duty's short claiming transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection

from app.db import mirror_repo
from app.domain.context import ref_of
from app.domain.eligibility import EligibilityEndpoint, EligibilityRequest
from app.domain.payers import PayerDirectory, PayerProfile
from app.domain.tenancy import DEFAULT_EHR

PAYER_ID = "urn:claimbridge:payer-id"
NPI = "http://hl7.org/fhir/sid/us-npi"
#: Resources not in the mirror yet, by key (a waiting job's notification: :mod:`app.eligibility.ahead`);
#: they are read before the mirror's version.
Held = Mapping[str, dict[str, Any]] | None


@dataclass(frozen=True)
class Skip:
    reason: str


def lookup(conn: Connection, key: str, *, ehr: str, held: Held = None) -> dict[str, Any] | None:
    """``key`` from ``held`` if it is there, else from ``ehr``'s mirror."""
    if held is not None and key in held:
        return held[key]
    return mirror_repo.get(conn, key, ehr=ehr)


def payer_profile(
    conn: Connection, coverage: dict[str, Any], payers: PayerDirectory, *, ehr: str = DEFAULT_EHR, held: Held = None
) -> PayerProfile:
    """The profile of the Coverage's payer (identifiers of its payor Organizations, payer-id first)."""
    first: list[str] = []
    rest: list[str] = []
    for ref in coverage.get("payor") or ():
        if not isinstance(ref, dict):
            continue
        key = ref_of(ref)
        org = lookup(conn, key, ehr=ehr, held=held) if key else None
        idents = list((org or {}).get("identifier") or ())
        if isinstance(ref.get("identifier"), dict):
            idents.append(ref["identifier"])
        for ident in idents:
            if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                (first if ident.get("system") == PAYER_ID else rest).append(ident["value"].strip())
    return payers.find(dict.fromkeys([*first, *rest]))


def endpoint_of(
    conn: Connection, coverage: dict[str, Any], payers: PayerDirectory, *, ehr: str = DEFAULT_EHR, held: Held = None
) -> tuple[PayerProfile, EligibilityEndpoint] | None:
    profile = payer_profile(conn, coverage, payers, ehr=ehr, held=held)
    if profile.is_default or profile.eligibility is None:
        return None
    return profile, profile.eligibility


def _npi(resource: dict[str, Any] | None) -> str | None:
    for ident in (resource or {}).get("identifier") or ():
        if isinstance(ident, dict) and ident.get("system") == NPI and isinstance(ident.get("value"), str):
            return str(ident["value"])
    return None


def _provider(
    conn: Connection, encounter: dict[str, Any] | None, ehr: str, held: Held = None
) -> tuple[str | None, str | None]:
    """The billing organization's NPI and name (Encounter.serviceProvider), when known."""
    key = ref_of((encounter or {}).get("serviceProvider"))
    org = lookup(conn, key, ehr=ehr, held=held) if key else None
    return _npi(org), (org or {}).get("name")


def _known_provider(conn: Connection, coverage_key: str, ehr: str) -> tuple[str | None, str | None]:
    """The NPI and name of the serviceProvider of an encounter billed to this coverage, if any has one
    (the 270's information receiver, loop 2100B, needs an NPI)."""
    for key in mirror_repo.encounters_for(conn, coverage_key, ehr=ehr):
        found = _provider(conn, mirror_repo.get(conn, key, ehr=ehr), ehr)
        if found[0]:
            return found
    return None, None


def _codes(encounter: dict[str, Any] | None) -> tuple[str, ...]:
    out = []
    for concept in (encounter or {}).get("type") or ():
        for coding in (concept or {}).get("coding") or ():
            if isinstance(coding, dict) and "cpt" in str(coding.get("system")) and coding.get("code"):
                out.append(str(coding["code"]))
    return tuple(out)


def request_for(
    conn: Connection,
    *,
    coverage_key: str,
    service_date: date,
    payers: PayerDirectory,
    encounter_key: str | None = None,
    trace: str = "",
    ehr: str = DEFAULT_EHR,
    held: Held = None,
) -> tuple[EligibilityRequest, EligibilityEndpoint] | Skip:
    """What to ask about ``coverage_key`` of ``ehr``'s mirror (identity is per EHR), ``held`` read first."""
    coverage = lookup(conn, coverage_key, ehr=ehr, held=held)
    if coverage is None:
        return Skip(f"{coverage_key} is not in the mirror")
    found = endpoint_of(conn, coverage, payers, ehr=ehr, held=held)
    if found is None:
        return Skip("the payer has no eligibility endpoint")
    profile, endpoint = found
    patient_key = ref_of(coverage.get("beneficiary")) or ""
    patient = lookup(conn, patient_key, ehr=ehr, held=held) if patient_key else None
    name = next((n for n in (patient or {}).get("name") or () if isinstance(n, dict)), {})
    given = name.get("given") or []
    encounter = lookup(conn, encounter_key, ehr=ehr, held=held) if encounter_key else None
    npi, provider_name = _provider(conn, encounter, ehr, held)
    if npi is None and encounter_key is None:  # a booking: the organization of the coverage's visits
        npi, provider_name = _known_provider(conn, coverage_key, ehr)
    member = coverage.get("subscriberId")
    request = EligibilityRequest(
        coverage=coverage_key,
        patient=patient_key,
        payer_id=profile.payer_id,
        payer_name=profile.name,
        service_date=service_date,
        member_id=str(member).strip() if member else None,
        family=name.get("family"),
        given=given[0] if given else None,
        birth_date=(patient or {}).get("birthDate"),
        gender=(patient or {}).get("gender"),
        provider_npi=npi,
        provider_name=provider_name,
        service_types=endpoint.service_types,
        codes=_codes(encounter),
        trace=trace,
    )
    return request, endpoint
