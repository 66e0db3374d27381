"""Logs carry ids and versions, never resource bodies, patient details or credentials."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.logging import configure_logging, get_logger
from tests.spine.helpers import make_services, notification, register, sample_bundles

SECRET = "s3cr3t-bearer-value-for-the-log-test"


def test_no_phi_or_secrets_in_logs(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="DEBUG", fmt="json")
    services = make_services(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    register(services, sub_id="claimbridge-demo", secret=SECRET)
    bundle = sample_bundles(1)[0]
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    family, birth = patient["name"][0]["family"], patient["birthDate"]
    with TestClient(create_app(services)) as client:
        headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
        assert (
            client.post("/notifications", content=orjson.dumps(notification(bundle, 1)), headers=headers).status_code
            == 202
        )
        assert client.post("/notifications", content=b"{broken", headers=headers).status_code == 400
    services.worker(worker_id="w").drain()
    get_logger("test").info("direct", body={"name": family}, authorization=f"Bearer {SECRET}", note=f"Bearer {SECRET}")
    services.close()
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"notification.received", "job.done", "direct"} <= events
    assert SECRET not in err
    assert family not in err
    assert birth not in err
