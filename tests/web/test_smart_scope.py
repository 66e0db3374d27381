"""The SMART app shows and acts on the data of the EHR it was launched from only (ADR 0011).

Two subscriptions send the same ``Encounter/enc-005`` and ``Patient/pat-005``: ``claimbridge-demo``
names no EHR (its data is the default EHR's, "A") and ``sub-b`` is linked to the registered EHR
``test-ehr`` ("B"), whose visit was billed 99214 instead of 99213. A clinician launched from B sees
B's claim, findings, eligibility and prior-auth alerts, never A's, and cannot override A's claim by
posting its id. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.db import claims_repo, eligibility_repo, outcomes_repo, priorauth_repo
from app.db.engine import read_only
from app.db.sql import utcnow
from app.domain.eligibility import CheckKey, EligibilityResult
from app.domain.tenancy import DEFAULT_EHR
from app.web.smart_scope import data_scope
from tests.spine.helpers import notification, register
from tests.web.conftest import Clock
from tests.web.helpers import csrf_of
from tests.web.smart_env import SmartEnv, held_claim_bundle, smart_env
from tests.web.test_smart import launch, sign_in_at_ehr

B, SECRET_B = "test-ehr", "SECRET_OF_EHR_B"
ENCOUNTER, COVERAGE, ORDER = "Encounter/enc-005", "Coverage/cov-005-1", "ServiceRequest/sr-005-1"
A_ANSWER = "answer given to EHR A only"


def b_bundle() -> dict[str, Any]:
    """The same ids as A's visit, other data: an E/M level 99214."""
    bundle = copy.deepcopy(held_claim_bundle())
    encounter = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    encounter["type"][0]["coding"][0]["code"] = "99214"
    return bundle


@pytest.fixture(scope="module")
def module_env(module_db_url: str, tmp_path_factory: pytest.TempPathFactory, module_clock: Clock) -> Iterator[SmartEnv]:
    with smart_env(module_db_url, tmp_path_factory.mktemp("scope"), clock=module_clock) as env:
        services = env.services
        register(services, sub_id="sub-b", secret=SECRET_B, ehr=B)
        with TestClient(create_app(services)) as seed:
            body = orjson.dumps(notification(b_bundle(), 1, sub_id="sub-b"))
            headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET_B}"}
            assert seed.post("/notifications", content=body, headers=headers).status_code == 202
        services.worker(worker_id="w").drain()
        now = utcnow()
        with services.engine.begin() as conn:  # A's answer about its Coverage/cov-005-1, and an alert on its order
            key = CheckKey(COVERAGE, now.date(), "manual", "Patient/pat-005", "LKSH1", now, encounter=ENCOUNTER)
            result = EligibilityResult("inactive", COVERAGE, "Patient/pat-005", "LKSH1", now.date().isoformat(),
                                       now.isoformat(), "fhir", outcome=A_ANSWER)  # fmt: skip
            eligibility_repo.record(conn, key, result, now=now)
            priorauth_repo.open_alert(
                conn, order_ref=ORDER, patient="Patient/pat-005", encounter=ENCOUNTER, payer_id="LKSH1",
                payer_name="Lakeshore", codes=["99213"], rule="test", assertion_id="a-1", now=now, ehr=DEFAULT_EHR,
            )  # fmt: skip
        yield env


@pytest.fixture
def client(module_env: SmartEnv) -> Iterator[TestClient]:
    """Signed in through a SMART launch from EHR B (``test-ehr``) on enc-005."""
    with TestClient(create_app(module_env.services), base_url="https://testserver") as c:
        assert c.get(sign_in_at_ehr(launch(c, module_env)), follow_redirects=False).status_code == 303
        yield c


def claims(env: SmartEnv) -> dict[str, dict[str, Any]]:
    """Each EHR's claim of enc-005, by EHR."""
    with read_only(env.services.engine) as conn:
        found = {ehr: outcomes_repo.get_outcome(conn, ENCOUNTER, ehr=ehr) for ehr in (DEFAULT_EHR, B)}
        return {ehr: claims_repo.get_claim(conn, o["claim"]) for ehr, o in found.items() if o and o["claim"]}


def test_the_scope_is_the_ehr_when_a_subscription_names_it_else_the_default(module_env: SmartEnv) -> None:
    with read_only(module_env.services.engine) as conn:
        assert data_scope(conn, B) == B
        assert data_scope(conn, "other-ehr") == DEFAULT_EHR  # no subscription linked: the single-EHR setup


def test_a_session_of_ehr_b_sees_b_claim_and_findings_never_a(module_env: SmartEnv, client: TestClient) -> None:
    both = claims(module_env)
    a, b = both[DEFAULT_EHR], both[B]
    assert a["id"] != b["id"] and a["encounter"] == b["encounter"] == ENCOUNTER
    html = client.get("/smart/app").text
    assert f'value="{b["id"]}"' in html and a["id"] not in html
    assert "99214" in html  # B's E/M level (A billed 99213)
    rules_a, rules_b = {f["rule"] for f in a["findings"]}, {f["rule"] for f in b["findings"]}
    assert rules_b - rules_a and all(r in html for r in rules_b) and not any(r in html for r in rules_a - rules_b)
    assert A_ANSWER not in html and "No order of this encounter needs prior authorization." in html
    panel = client.get("/smart/app/panels/eligibility").text
    assert "Coverage Coverage/cov-005-1" in panel and A_ANSWER not in panel


def test_ehr_b_cannot_override_a_claim_or_request_a_order(module_env: SmartEnv, client: TestClient) -> None:
    a = claims(module_env)[DEFAULT_EHR]
    finding = next(f for f in a["findings"] if f["severity"] == "error")
    csrf = csrf_of(client.get("/smart/app").text)
    form = {"csrf": csrf, "claim": a["id"], "finding": str(finding["id"]), "reason": "not my EHR's claim"}
    assert client.post("/smart/app/override", data=form, follow_redirects=False).status_code == 404
    after = claims(module_env)[DEFAULT_EHR]
    assert after["status"] == a["status"] and next(f for f in after["findings"] if f["id"] == finding["id"]) == finding
    refused = client.post("/smart/app/authorize", data={"csrf": csrf, "order": ORDER}, follow_redirects=False)
    assert refused.status_code == 404
    with read_only(module_env.services.engine) as conn:
        alert = priorauth_repo.get_alert(conn, ORDER, ehr=DEFAULT_EHR)
    assert alert is not None and alert.status == "open"
