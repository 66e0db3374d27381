"""No PHI or secret in the logs of a representative run: the intake flows (good notifications, bad ones,
wrong credentials, a dead letter, the admin API) at DEBUG, every line captured and grepped for the
sample data's patient names, birth dates, member ids and MRNs, and for the run's secrets.
The demo's logs get the same grep in ``tests/spine/test_cli.py``.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.logging import configure_logging
from tests.phi import phi_hits
from tests.spine.helpers import ADMIN, clone_bundle, make_services, notification, register, sample_bundles

SECRET = "log-hygiene-subscription-secret-7Qx"
SIGNING = "log-hygiene-signing-secret-9Kd2"


def test_intake_worker_and_admin_logs_carry_no_phi_or_secrets(
    db_url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="DEBUG", fmt="json")
    # Resource validation at intake off: the broken Patient must reach the worker and be dead-lettered there
    # (its logs are what this test reads); with it on, intake refuses it with 400 (tests/intake/test_poison.py).
    services = make_services(db_url, tmp_path, intake={"validate_resources": False})
    register(services, sub_id="claimbridge-demo", secret=SECRET, signing_secret=SIGNING)
    bundles = sample_bundles(6)
    broken = clone_bundle(bundles[0], "broken")  # a resource that fails in the worker: a dead letter
    for entry in broken["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = "not-a-date"
            entry["resource"]["gender"] = {"family": entry["resource"]["name"][0]["family"]}
    with TestClient(create_app(services), raise_server_exceptions=False) as client:

        def post(body: bytes, secret: str = SECRET) -> int:
            signature = hmac.new(SIGNING.encode(), body, hashlib.sha256).hexdigest()
            headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/fhir+json",
                       "X-Signature": signature}  # fmt: skip
            return client.post("/notifications", content=body, headers=headers).status_code

        codes = [post(orjson.dumps(notification(b, i))) for i, b in enumerate(bundles, start=1)]
        codes.append(post(orjson.dumps(notification(broken, 50))))
        codes.append(post(orjson.dumps(notification(bundles[1], 2))))  # a duplicate
        codes.append(post(orjson.dumps(notification(bundles[2], 60)), secret="wrong-secret-for-the-log-test"))
        codes.append(post(b'{"resourceType": "Bundle", "entry": [{"resource": {"name": "Desai"}}]}'))
        assert codes[:7] == [202] * 7 and codes[7] == 200 and codes[8] == 401 and codes[9] == 400
        services.worker(worker_id="w").drain()
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert client.get("/api/claims", headers=admin).status_code == 200
        assert len(client.get("/api/dead-letters", headers=admin).json()) >= 1
        assert client.get("/api/claims", headers={"Authorization": f"Bearer {SECRET}"}).status_code == 401
    services.close()
    captured = capfd.readouterr()
    logs = captured.err + captured.out
    assert "notification.received" in logs and "job." in logs  # the run really logged, at DEBUG
    assert phi_hits(logs, extra=[SECRET, SIGNING, ADMIN, "wrong-secret-for-the-log-test"]) == []
