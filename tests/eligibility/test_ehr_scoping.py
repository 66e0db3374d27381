"""Eligibility is EHR-scoped: two EHRs sending the same Coverage / Patient / Encounter ids get two
checks, two answers and claims that each read their own (SQLite and PostgreSQL); ``GET
/api/eligibility?ehr=`` filters; the migration moves existing checks to the EHR of their mirror."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import orjson
import pytest
import respx
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.app import create_app
from app.db import claims_repo, migrate
from app.db.engine import make_engine
from app.db.models import EligibilityCheck, Resource
from app.domain.tenancy import DEFAULT_EHR
from app.eligibility.duty import EligibilityDuty
from app.mappers.ids import claim_id
from app.services import Services
from tests.eligibility.helpers import COVERAGE, ENCOUNTER, PATIENT, SUBMIT, buckeye_bundle, make_services, response
from tests.spine.helpers import ADMIN, bearer, notification, register

SECRET_A, SECRET_B = "secret-of-ehr-a-0123456789", "secret-of-ehr-b-0123456789"
EHR_B = "ehr-b"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, max_attempts=1, timeout_seconds=30)
    register(svc, sub_id="sub-a", secret=SECRET_A)
    register(svc, sub_id="sub-b", secret=SECRET_B, ehr=EHR_B)
    yield svc
    svc.close()


def deliver(client: TestClient, services: Services, sub_id: str, secret: str) -> None:
    note = notification(buckeye_bundle(), 1, sub_id=sub_id)
    assert client.post("/notifications", content=orjson.dumps(note), headers=bearer(secret)).status_code == 202
    worker = services.worker(worker_id="w")
    worker.drain()
    worker.duty(EligibilityDuty).drain(timeout=60)


def rules(services: Services, ehr: str) -> set[str]:
    with services.engine.connect() as conn:
        claim = claims_repo.get_claim(conn, claim_id(ENCOUNTER, "60054", ehr=ehr))
    assert claim is not None
    return {f["rule"] for f in claim["findings"]}


def test_two_ehrs_with_colliding_ids_get_their_own_checks_and_answers(services: Services) -> None:
    with respx.mock(assert_all_called=True) as payer, TestClient(create_app(services)) as client:
        route = payer.post(SUBMIT).mock(
            side_effect=[httpx.Response(200, json=response()), httpx.Response(200, json=response(inforce=False))]
        )
        deliver(client, services, "sub-a", SECRET_A)  # EHR A (default): active
        deliver(client, services, "sub-b", SECRET_B)  # EHR B, the very same ids: inactive
        assert route.call_count == 2  # B's visit is verified too, not taken for A's
        with services.engine.connect() as conn:
            rows = conn.execute(select(EligibilityCheck).order_by(EligibilityCheck.id)).all()
        assert [(r.ehr, r.coverage, r.trigger, r.result_status) for r in rows] == [
            (DEFAULT_EHR, COVERAGE, "finished", "active"),
            (EHR_B, COVERAGE, "finished", "inactive"),
        ]
        assert "eligibility.payer-inactive" not in rules(services, DEFAULT_EHR)  # A's claim reads A's answer
        assert "eligibility.payer-inactive" in rules(services, EHR_B)  # B's claim reads B's

        both = client.get(f"/api/eligibility?coverage={COVERAGE}", headers=ADMIN_AUTH).json()
        assert sorted(c["ehr"] for c in both["checks"]) == [DEFAULT_EHR, EHR_B]
        only_b = client.get(f"/api/eligibility?patient={PATIENT}&ehr={EHR_B}", headers=ADMIN_AUTH).json()
        assert [(c["ehr"], c["status"]) for c in only_b["checks"]] == [(EHR_B, "inactive")]
        assert only_b["latest"]["status"] == "inactive"
        only_a = client.get(f"/api/eligibility?patient={PATIENT}&ehr={DEFAULT_EHR}", headers=ADMIN_AUTH).json()
        assert [c["status"] for c in only_a["checks"]] == ["active"] and only_a["estimate"] is not None
        assert client.get(f"/api/eligibility?patient={PATIENT}&ehr=", headers=ADMIN_AUTH).status_code == 400


def test_the_migration_moves_existing_checks_to_the_ehr_of_their_coverage(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    config = migrate.alembic_config()
    now = datetime(2026, 12, 3, tzinfo=UTC)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "ebccb5c8dc04")
        conn.execute(
            Resource.__table__.insert(),  # type: ignore[attr-defined]
            [{"ehr": ehr, "key": key, "resource_type": "Coverage", "body": {}, "updated_at": now}
             for ehr, key in (("main", "Coverage/only-main"), (DEFAULT_EHR, "Coverage/both"),
                              ("main", "Coverage/both"))],
        )  # fmt: skip
        for i, coverage in enumerate(("Coverage/only-main", "Coverage/both", "Coverage/gone")):
            conn.execute(
                sa.text("INSERT INTO eligibility_check (id, coverage, service_date, trigger, patient, payer_id, status,"
                        " due_at, attempts, created_at, updated_at) VALUES (:i, :c, :d, 'coverage', 'Patient/p', 'x',"
                        " 'done', :n, 1, :n, :n)"),
                {"i": i + 1, "c": coverage, "d": date(2026, 12, 3), "n": now},
            )  # fmt: skip
        command.upgrade(config, "f3b9d2c4a7e1")
        moved = {r.coverage: r.ehr for r in conn.execute(sa.text("SELECT coverage, ehr FROM eligibility_check"))}
    engine.dispose()
    # one EHR holds it: that one; several or none: the default EHR
    assert moved == {"Coverage/only-main": "main", "Coverage/both": DEFAULT_EHR, "Coverage/gone": DEFAULT_EHR}
