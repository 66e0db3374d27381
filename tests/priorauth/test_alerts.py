"""Orders arriving by notification: alert state, Task and coverage-information write-back via the outbox."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.adapters.ehr_priorauth import write_order_coverage
from app.api.app import create_app
from app.cds.coverage_info import COVERAGE_INFORMATION, violations
from app.db.models import Outbox
from app.fhir.client import FhirClient
from app.fhir.r4 import validate_resource
from app.services import Services
from tests.spine.helpers import ADMIN, SECRET, make_services, notification, register

ROOT = Path(__file__).resolve().parents[2]
ORDER = "ServiceRequest/sr-032-1"  # MRI lumbar spine (local code -> 72148), Lakeshore: needs authorization
HEADERS = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc, "claimbridge-demo")
    yield svc
    svc.close()


def bundle(*, with_auth: bool, status: str = "active") -> dict[str, Any]:
    b = json.loads((ROOT / "examples" / "bundles" / "encounter-032.json").read_text())
    if not with_auth:
        b["entry"] = [e for e in b["entry"] if e["resource"]["resourceType"] != "ClaimResponse"]
    for e in b["entry"]:
        if e["resource"]["resourceType"] == "ServiceRequest":
            e["resource"]["status"] = status
            e["resource"].setdefault("meta", {})["versionId"] = f"v-{status}-{with_auth}"
    return b


def rows(services: Services, kind: str) -> list[Any]:
    with services.engine.connect() as conn:
        return list(conn.execute(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id)).all())


def send(client: TestClient, services: Services, b: dict[str, Any], number: int) -> None:
    response = client.post(
        "/notifications", content=orjson.dumps(notification(copy.deepcopy(b), number)), headers=HEADERS
    )
    assert response.status_code == 202, response.text
    services.worker().drain()


def alerts(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/alerts", params=params, headers=ADMIN_AUTH)
    assert response.status_code == 200
    return response.json()["alerts"]


def test_an_order_needing_authorization_opens_an_alert_and_writes_back_a_task_and_the_extension(
    services: Services,
) -> None:
    with TestClient(create_app(services)) as client:
        send(client, services, bundle(with_auth=False), 1)
        [alert] = alerts(client, patient="Patient/pat-032", status="open")
        assert (alert["order"], alert["payer"], alert["codes"]) == (ORDER, "LKSH1", ["72148"])
        [task_row] = rows(services, "pa-task")
        task = task_row.payload
        validate_resource(task)
        assert task["focus"] == {"reference": ORDER} and task["for"] == {"reference": "Patient/pat-032"}
        assert task["status"] == "requested" and task["businessStatus"]["text"] == "open"
        assert {i["type"]["text"] for i in task["input"]} >= {"payer", "rule"}
        assert "owner" in task  # the ordering clinician's queue
        [coverage_row] = rows(services, "order-coverage")
        ext = coverage_row.payload["extension"]
        assert coverage_row.payload["order"] == ORDER and violations(ext) == []
        assert {"url": "pa-needed", "valueCode": "auth-needed"} in ext["extension"]
        metrics = client.get("/metrics", headers=ADMIN_AUTH).text
        assert 'claimbridge_prior_auth_alerts{state="open"} 1.0' in metrics

        send(client, services, bundle(with_auth=False), 2)  # the same order again: no second alert
        assert len(alerts(client)) == 1 and len(rows(services, "pa-task")) == 1

        send(client, services, bundle(with_auth=True), 3)  # the authorization arrives: the alert closes
        [alert] = alerts(client)
        assert (alert["status"], alert["pre_auth_ref"]) == ("approved", "LHA-PA-6709072")
        assert rows(services, "pa-task")[-1].payload["status"] == "completed"
        satisfied = rows(services, "order-coverage")[-1].payload["extension"]["extension"]
        assert {"url": "satisfied-pa-id", "valueString": "LHA-PA-6709072"} in satisfied
        assert (
            alerts(client, status="open") == []
            and client.get("/api/alerts", params={"status": "x"}, headers=ADMIN_AUTH).status_code == 400
        )


def test_a_revoked_order_cancels_its_alert_and_task(services: Services) -> None:
    with TestClient(create_app(services)) as client:
        send(client, services, bundle(with_auth=False), 1)
        send(client, services, bundle(with_auth=False, status="revoked"), 2)
        [alert] = alerts(client, status="cancelled")
        assert alert["order"] == ORDER
        assert rows(services, "pa-task")[-1].payload["status"] == "cancelled"
        assert client.get("/api/alerts", headers={}).status_code == 401


async def test_the_order_update_uses_if_match_and_reads_again_on_412() -> None:
    base = "https://ehr.example/fhir"
    parts = [
        {"url": "coverage", "valueReference": {"reference": "Coverage/c"}},
        {"url": "covered", "valueCode": "covered"},
    ]
    ours = {"url": COVERAGE_INFORMATION, "extension": parts}
    theirs = {"url": "http://example.org/other", "valueString": "kept"}
    v1 = {"resourceType": "ServiceRequest", "id": "1", "meta": {"versionId": "1"}, "status": "active"}
    v2 = {**v1, "meta": {"versionId": "2"}, "extension": [theirs]}
    with respx.mock() as router:
        router.get(f"{base}/ServiceRequest/1").mock(
            side_effect=[httpx.Response(200, json=v1), httpx.Response(200, json=v2)]
        )
        put = router.put(f"{base}/ServiceRequest/1").mock(
            side_effect=[
                httpx.Response(412, json={"resourceType": "OperationOutcome", "issue": []}),
                httpx.Response(200, json=v2),
            ]
        )
        async with httpx.AsyncClient() as http:
            result = await write_order_coverage(
                FhirClient(http, base_url=base), {"order": "ServiceRequest/1", "extension": ours}
            )
    assert result == "updated"
    assert [c.request.headers["if-match"] for c in put.calls] == ['W/"1"', 'W/"2"']
    assert json.loads(put.calls.last.request.content)["extension"] == [theirs, ours]


def test_alerts_are_per_ehr_two_ehrs_with_the_same_order_id_are_two_alerts(services: Services) -> None:
    for ehr, secret in (("ehr-a", "secret-of-ehr-a-0123456789abcdef"), ("ehr-b", "secret-of-ehr-b-0123456789abcdef")):
        register(services, f"sub-{ehr}", secret=secret, ehr=ehr)
    with TestClient(create_app(services)) as client:

        def send_as(ehr: str, b: dict[str, Any], number: int) -> None:
            note = notification(copy.deepcopy(b), number, sub_id=f"sub-{ehr}")
            headers = {**HEADERS, "Authorization": f"Bearer secret-of-{ehr}-0123456789abcdef"}
            assert client.post("/notifications", content=orjson.dumps(note), headers=headers).status_code == 202
            services.worker().drain()

        send_as("ehr-a", bundle(with_auth=False), 1)
        send_as("ehr-b", bundle(with_auth=False), 1)  # the same ServiceRequest/sr-032-1, another EHR's order
        both = alerts(client)
        assert sorted((a["ehr"], a["order"], a["status"]) for a in both) == [
            ("ehr-a", ORDER, "open"),
            ("ehr-b", ORDER, "open"),
        ]
        send_as("ehr-a", bundle(with_auth=False, status="revoked"), 2)  # only ehr-a's order is withdrawn
        assert [(a["ehr"], a["status"]) for a in alerts(client, ehr="ehr-a")] == [("ehr-a", "cancelled")]
        assert [(a["ehr"], a["status"]) for a in alerts(client, ehr="ehr-b")] == [("ehr-b", "open")]
        assert alerts(client, ehr="default") == []
        assert client.get("/api/alerts", params={"ehr": "x" * 101}, headers=ADMIN_AUTH).status_code == 400


INSERT_ALERT = (
    "INSERT INTO prior_auth_alert ({cols}order_ref, payer_id, payer_name, codes, rule, status, assertion_id, "
    "created_at, updated_at) VALUES ({vals}'ServiceRequest/1', 'P', 'Payer', '[]', 'r', 'open', :aid, "
    "'2026-12-01 00:00:00', '2026-12-01 00:00:00')"
)


def test_the_migration_moves_existing_alerts_to_the_default_ehr(empty_db_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from app.db import migrate
    from app.db.engine import make_engine

    engine = make_engine(empty_db_url)
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "d7a3c5e9b214")  # alerts before they were per EHR
        conn.execute(text(INSERT_ALERT.format(cols="", vals="")), {"aid": "a1"})
        command.upgrade(cfg, "head")
        moved = conn.execute(text("SELECT ehr, order_ref FROM prior_auth_alert")).all()
        assert moved == [("default", "ServiceRequest/1")]
        # the same order id in another EHR is another alert now
        conn.execute(text(INSERT_ALERT.format(cols="ehr, ", vals="'ehr-b', ")), {"aid": "a2"})
    engine.dispose()
