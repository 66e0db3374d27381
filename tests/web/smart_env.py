"""A claimbridge with one held claim (enc-005: a coding error) and a test EHR registered for the SMART app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.db import ehr_repo, web_repo
from app.db.ehr_repo import EhrRecord
from app.db.sql import utcnow
from app.eligibility.duty import EligibilityDuty
from app.services import Services, build_services
from app.settings import Settings
from tests.spine.helpers import ADMIN, ROOT, SECRET, notification, register, sample_bundles
from tests.web.serve import free_port, serving
from tests.web.smart_ehr import Client, SmartEhr

CLIENT_ID = "claimbridge-app"
PRACTITIONER = "Practitioner/pr-77"
ENCOUNTER, PATIENT = "enc-005", "pat-005"


@dataclass
class SmartEnv:
    services: Services
    ehr: SmartEhr
    app_base: str  # the public base URL claimbridge believes it has
    patient: str = PATIENT
    encounter: str = ENCOUNTER

    def launch_path(self) -> str:
        launch = self.ehr.launch(patient=self.patient, encounter=self.encounter)
        return f"/smart/launch?iss={self.ehr.iss}&launch={launch}"


def held_claim_bundle() -> dict[str, Any]:
    return next(b for b in sample_bundles() if any(e["resource"]["id"] == ENCOUNTER for e in b["entry"]))


@contextmanager
def smart_env(
    db_url: str,
    tmp: Path,
    *,
    clock: Any = utcnow,
    client: Client | None = None,
    config_dir: Path | None = None,
    bundle: dict[str, Any] | None = None,
    patient: str = PATIENT,
    encounter: str = ENCOUNTER,
    **overrides: Any,
) -> Iterator[SmartEnv]:
    """claimbridge seeded with ``bundle`` (default: the held enc-005 visit) by notification, the worker
    drained (eligibility answers included), and the test EHR serving; ``config_dir`` replaces ``config/``;
    ``overrides`` are settings passed to the services."""
    ehr = SmartEhr()
    ehr_port, app_port = free_port(), free_port()
    ehr.base = f"http://127.0.0.1:{ehr_port}"
    app_base = f"http://127.0.0.1:{app_port}"
    ehr.add_client(client or Client(CLIENT_ID, [f"{app_base}/smart/callback"]))
    ehr.add_user("dr.who", PRACTITIONER)
    ehr.patients[patient] = {
        "resourceType": "Patient",
        "id": patient,
        "name": [{"text": "Ada Testpatient"}],
        "birthDate": "1970-01-01",
    }
    settings = Settings(
        env="test",
        database_url=db_url,
        config_dir=config_dir or ROOT / "config",
        refdata_dir=tmp / "refdata",
        api={"admin_token": ADMIN, "public_base_url": app_base},
        adapters={"out_dir": str(tmp / "out")},
        **overrides,  # other settings sections (security, web ...)
    )
    services = build_services(settings, clock=clock)
    try:
        register(services, sub_id="claimbridge-demo")
        with services.engine.begin() as conn:
            ehr_repo.add_ehr(conn, EhrRecord("test-ehr", ehr.iss, "none"), now=utcnow())
            web_repo.set_smart_app(
                conn,
                ehr="test-ehr",
                client_id=CLIENT_ID,
                client_secret=None,
                key_path=None,
                scopes=settings.web.default_scopes,
                now=utcnow(),
            )
        with TestClient(create_app(services)) as seed:
            body = orjson.dumps(notification(bundle or held_claim_bundle(), 1))
            headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
            assert seed.post("/notifications", content=body, headers=headers).status_code == 202
        worker = services.worker(worker_id="w")
        worker.drain()
        worker.duty(EligibilityDuty).drain(timeout=60)  # payers with an eligibility endpoint answer
        with serving(ehr.app, ehr_port):
            yield SmartEnv(services, ehr, app_base, patient, encounter)
    finally:
        services.close()


def app_port(env: SmartEnv) -> int:
    return int(env.app_base.rsplit(":", 1)[1])
