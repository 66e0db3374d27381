"""A payer double on a real local port and a claimbridge whose SMART launch opens a visit with an
eligibility answer and a prior-auth alert (the SMART app's eligibility and prior-auth panels).

The double (a Starlette app under uvicorn) answers ``CoverageEligibilityRequest/$submit`` with the
response in :attr:`PayerDouble.eligibility` and ``Claim/$submit`` with a PAS fixture (A1: AUTH0001),
refusing a non-conformant PAS Bundle with a 400, and records every request. Lakeshore's profile in a
copy of ``config/`` points both endpoints at it; enc-032 (an MRI order needing authorization) arrives
by notification, the worker verifies its coverage and opens the order's alert.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.db.sql import utcnow
from app.priorauth.pas import bundle_problems
from app.services import Services
from app.worker.outbox import OutboxDispatcher
from tests.eligibility.helpers import office_visit_benefits, response
from tests.priorauth.test_alerts import bundle as order_bundle
from tests.priorauth.test_pas import answer
from tests.web.serve import free_port, serving
from tests.web.smart_env import ROOT, SmartEnv, smart_env

PATIENT, ENCOUNTER = "pat-032", "enc-032"
ORDER = "ServiceRequest/sr-032-1"
COVERAGE = "Coverage/cov-032-1"
FHIR = "application/fhir+json"


@dataclass
class PayerDouble:
    clock: Any = utcnow
    eligibility: dict[str, Any] = field(default_factory=lambda: response(items=office_visit_benefits(), wrap=True))
    eligibility_status: int = 200  # 503: the payer is down
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    base: str = ""

    def calls(self, operation: str) -> int:
        return sum(1 for op, _ in self.received if op == operation)

    async def _eligibility(self, request: Request) -> JSONResponse:
        self.received.append(("eligibility", json.loads(await request.body())))
        if self.eligibility_status != 200:
            return JSONResponse({"resourceType": "OperationOutcome"}, self.eligibility_status, media_type=FHIR)
        return JSONResponse(self.eligibility, media_type=FHIR)

    async def _pas(self, request: Request) -> JSONResponse:
        sent = json.loads(await request.body())
        self.received.append(("pas", sent))
        if bundle_problems(sent):
            return JSONResponse({"resourceType": "OperationOutcome", "issue": [{"code": "invalid"}]}, 400)
        now: datetime = self.clock()
        return JSONResponse(answer("valid_pa_response_bundle.json", today=now), media_type=FHIR)

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/fhir/CoverageEligibilityRequest/$submit", self._eligibility, methods=["POST"]),
                Route("/fhir/Claim/$submit", self._pas, methods=["POST"]),
            ]
        )


def panels_config(tmp: Path, payer_base: str) -> Path:
    """``config/`` with Lakeshore verifying eligibility and taking PAS requests at the double."""
    config = tmp / "config"
    shutil.copytree(ROOT / "config", config)
    path = config / "payers" / "lakeshore.yaml"
    profile = yaml.safe_load(path.read_text())
    profile["eligibility"] = {"fhir_base_url": f"{payer_base}/fhir", "max_attempts": 1, "timeout_seconds": 30}
    profile["prior_auth_endpoint"] = f"{payer_base}/fhir"
    path.write_text(yaml.safe_dump(profile))
    return config


@contextmanager
def panels_env(db_url: str, tmp: Path, *, clock: Any = utcnow) -> Iterator[tuple[SmartEnv, PayerDouble]]:
    payer = PayerDouble(clock=clock)
    port = free_port()
    payer.base = f"http://127.0.0.1:{port}"
    with serving(payer.app, port):
        config = panels_config(tmp, payer.base)
        visit = order_bundle(with_auth=False)
        with smart_env(db_url, tmp, clock=clock, config_dir=config, bundle=visit, patient=PATIENT,
                       encounter=ENCOUNTER) as env:  # fmt: skip
            yield env, payer


def run_eligibility(services: Services) -> int:
    """The worker's eligibility duty until nothing is due (the payer double answers)."""
    from app.eligibility.duty import EligibilityDuty

    return services.worker(worker_id="w").duty(EligibilityDuty).drain(timeout=60)


def run_outbox(services: Services) -> int:
    """One round of the worker's outbox (PAS requests go to the double)."""
    return services.worker(worker_id="w").duty(OutboxDispatcher).run_once()
