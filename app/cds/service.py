"""One CDS Hooks call, in order: find the service, check the request, gather, evaluate.

:class:`CdsRunner` is what ``POST /cds-services/{id}`` and ``claimbridge cds call`` share. It gets
its I/O injected: ``reader_for`` decides whether (and how) the EHR's FHIR server may be read for a
request, ``on_file`` answers the authorizations claimbridge already holds for a patient of the
EHR whose ``fhirServer`` the request names (the default EHR when it names no registered one), and
``on_booking`` queues the eligibility checks of an ``appointment-book`` request's appointments (a
failure there is logged, never the hook's answer). Offline (the CLI) neither reads nor queues anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import httpx

from app.cds.evaluate import evaluate
from app.cds.gather import Reader, gather
from app.cds.hooks import BY_HOOK, SERVICES, HookService
from app.cds.orders import CodeMap, bundle_resources, mapping_code_map
from app.cds.request import CdsInputError, HookRequest, parse_request
from app.config.loader import ClaimConfig
from app.domain.payers import PayerDirectory
from app.logging import get_logger

ReaderFor = Callable[[HookRequest], tuple[Reader | None, str]]
#: Called with an ``appointment-book`` request and its appointments (the API queues eligibility checks).
OnBooking = Callable[[HookRequest, list[dict[str, Any]]], None]
log = get_logger("claimbridge.cds")
OFFLINE: ReaderFor = lambda _request: (None, "claimbridge evaluates offline")  # noqa: E731


class UnknownService(CdsInputError):
    def __init__(self, service_id: str) -> None:
        super().__init__(f"no CDS service {service_id!r}", status=404)


def service_for(service_id: str | None, body: Any) -> HookService:
    """The service ``service_id``, or (None) the one of the request's ``hook``."""
    if service_id is None:
        hook = body.get("hook") if isinstance(body, dict) else None
        found = BY_HOOK.get(hook) if isinstance(hook, str) else None
        if found is None:
            raise CdsInputError(f"no CDS service for hook {hook!r}")
        return found
    service = SERVICES.get(service_id)
    if service is None:
        raise UnknownService(service_id)
    return service


class CdsRunner:
    """Evaluates hook requests with the claim configuration's payer profiles and code mapping."""

    @classmethod
    def for_config(cls, config: ClaimConfig, **kw: Any) -> CdsRunner:
        return cls(payers=config.payers, code_map=mapping_code_map(config.mappings.values), **kw)

    def __init__(
        self,
        *,
        payers: PayerDirectory,
        today: Callable[[], date],
        reader_for: ReaderFor = OFFLINE,
        on_file: Callable[[str, str | None], Iterable[dict[str, Any]]] = lambda _patient, _server: (),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        code_map: CodeMap = lambda _resource: [],
        on_booking: OnBooking = lambda _request, _appointments: None,
    ) -> None:
        self.payers, self.today, self.reader_for, self.on_file, self.new_id = payers, today, reader_for, on_file, new_id
        self.code_map, self.on_booking = code_map, on_booking

    def call(self, service_id: str | None, body: Any) -> dict[str, Any]:
        """The CDS Hooks response for ``body``; raises :class:`CdsInputError` for unusable input."""
        service = service_for(service_id, body)
        request = parse_request(body, service)
        reader, why_not = self.reader_for(request)
        try:
            held = list(self.on_file(f"Patient/{request.patient_id}", request.fhir_server))
        except Exception:
            held = []
        if service.hook == "appointment-book":
            try:  # the eligibility checks of the booking are queued; the answer never waits for them
                self.on_booking(request, bundle_resources(request.context.get("appointments")))
            except Exception as exc:
                log.warning("cds.booking_checks_failed", error=type(exc).__name__)
        gathered = gather(request, service, reader=reader, why_not=why_not, on_file=held)
        return evaluate(request, service, gathered, self.payers, today=self.today(), new_id=self.new_id,
                        code_map=self.code_map)  # fmt: skip


def ehr_reader(client: httpx.Client, allowed: Callable[[], Iterable[str]]) -> ReaderFor:
    """Read the request's ``fhirServer`` with its bearer token, only when it is a registered EHR's base URL."""

    def reader_for(request: HookRequest) -> tuple[Reader | None, str]:
        server, token = request.fhir_server, request.access_token
        if not server or not token:
            return None, "the request gives no fhirServer and fhirAuthorization"
        if server not in {u.rstrip("/") for u in allowed()}:
            return None, "its fhirServer is not a registered EHR"

        def read(path: str) -> dict[str, Any]:
            response = client.get(f"{server}/{path}", headers={"Authorization": f"Bearer {token}",
                                                               "Accept": "application/fhir+json"})  # fmt: skip
            response.raise_for_status()
            body = response.json()
            if not isinstance(body, dict):
                raise ValueError("not a FHIR resource")
            return body

        return read, ""

    return reader_for
