"""CDS Hooks routes: ``GET /cds-services`` (discovery) and ``POST /cds-services/{id}``.

Every call carries a CDS Hooks JWT whose ``aud`` is the exact URL invoked under
``api.public_base_url`` (:mod:`app.cds.auth`); a missing or bad one is a 401 OperationOutcome and
nothing is computed. Unusable input is 400/422 (OperationOutcome); a failing dependency is reported
inside a 200 answer (:mod:`app.cds.evaluate`). The work runs in the thread pool, where the JWT's
``jti`` is stored and the EHR read synchronously.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.api.outcomes import OutcomeError
from app.cds.auth import CdsAuthenticator, CdsAuthError
from app.cds.hooks import discovery_document
from app.cds.request import CdsInputError, HookRequest
from app.cds.service import CdsRunner, ehr_reader
from app.db import ehr_repo, eligibility_repo, priorauth_repo
from app.db.engine import read_only
from app.domain.tenancy import DEFAULT_EHR
from app.eligibility.triggers import plan_booking
from app.intake.auth import bearer_token
from app.services import Services

router = APIRouter(tags=["cds-hooks"])
FETCH_TIMEOUT = httpx.Timeout(2.0, connect=1.0)
_LOCK = threading.Lock()
ALLOWED_CACHE_SECONDS = 5.0


class CdsRuntime:
    """The authenticator, the runner and their HTTP client, built once per app."""

    def __init__(self, services: Services) -> None:
        engine, clock = services.engine, services.clock
        self.client = httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=False)
        self.base = services.settings.api.public_base_url.rstrip("/")

        def fetch_jwks(url: str) -> dict[str, Any]:
            response = self.client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return dict(response.json())

        known: list[tuple[float, dict[str, str]]] = []

        def registered() -> dict[str, str]:  # base URL -> EHR name, re-read at most every few seconds
            if not known or time.monotonic() - known[0][0] > ALLOWED_CACHE_SECONDS:
                with read_only(engine) as conn:
                    ehrs = {e.base_url.rstrip("/"): e.name for e in ehr_repo.list_ehrs(conn)}
                known[:] = [(time.monotonic(), ehrs)]
            return known[0][1]

        def allowed() -> list[str]:  # the registered EHRs' base URLs
            return list(registered())

        def on_file(patient: str, server: str | None) -> list[dict[str, Any]]:
            ehr = registered().get((server or "").rstrip("/"), DEFAULT_EHR)  # ADR 0011: a patient id is per EHR
            with read_only(engine) as conn:
                return priorauth_repo.authorizations_of(conn, patient, ehr=ehr)

        def on_booking(request: HookRequest, appointments: list[dict[str, Any]]) -> None:
            ehr = registered().get((request.fhir_server or "").rstrip("/"), DEFAULT_EHR)
            now = clock()
            with engine.begin() as conn:
                keys = plan_booking(conn, appointments, patient=f"Patient/{request.patient_id}",
                                    payers=services.config.payers, now=now, ehr=ehr)  # fmt: skip
                if keys:
                    eligibility_repo.request_checks(conn, keys, now=now)

        self.auth = CdsAuthenticator(engine=engine, fetch_jwks=fetch_jwks, clock=clock)
        self.runner = CdsRunner.for_config(services.config, today=lambda: clock().date(),
                                reader_for=ehr_reader(self.client, allowed), on_file=on_file,
                                on_booking=on_booking)  # fmt: skip

    def authenticate(self, request: Request, path: str) -> str:
        try:
            return self.auth.verify(bearer_token(request.headers.get("authorization")), audience=self.base + path)
        except CdsAuthError as exc:
            raise OutcomeError(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


def runtime(request: Request) -> CdsRuntime:
    state = request.app.state
    with _LOCK:
        if getattr(state, "cds", None) is None:
            state.cds = CdsRuntime(state.services)
    return state.cds  # type: ignore[no-any-return]


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/cds-services")
async def discovery(request: Request) -> Response:
    cds = runtime(request)
    await run_in_threadpool(cds.authenticate, request, "/cds-services")
    return _json(discovery_document())


@router.post("/cds-services/{service_id}")
async def call_service(service_id: str, request: Request) -> Response:
    cds = runtime(request)
    raw = await request.body()
    return _json(await run_in_threadpool(_call, cds, request, service_id, raw))


def _call(cds: CdsRuntime, request: Request, service_id: str, raw: bytes) -> dict[str, Any]:
    cds.authenticate(request, f"/cds-services/{service_id}")
    try:
        return cds.runner.call(service_id, orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise OutcomeError(400, "the request body is not JSON") from None
    except CdsInputError as exc:
        raise OutcomeError(exc.status, str(exc)) from None
