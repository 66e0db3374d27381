"""The eligibility duty's "busy" check counts notification work not expanded into jobs yet."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.services import eligibility_duty
from tests.spine.helpers import SECRET, expand, make_services, notification, register, sample_bundles

HEADERS = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}


def test_a_pending_inbox_row_makes_the_worker_busy(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    busy = eligibility_duty(services).busy
    assert busy is not None and not busy()  # nothing waits: the duty re-evaluates everything
    with TestClient(create_app(services)) as client:
        body = orjson.dumps(notification(sample_bundles(1)[0], 1))
        assert client.post("/notifications", content=body, headers=HEADERS).status_code == 202
    assert busy(), "an acknowledged notification not expanded yet is work waiting"
    assert expand(services.engine) == 1
    assert busy()  # now as a pending job
    services.worker(worker_id="w").drain()
    assert not busy()
    services.close()
