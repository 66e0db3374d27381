"""The SMART encounter view's eligibility and prior-auth panels over HTTP, on SQLite and PostgreSQL.

A visit (enc-032, Lakeshore) whose coverage the worker verified against a payer double on a real
local port, with an MRI order needing authorization. The page shows the answer, the estimate the
API computes and the alert; "Re-check eligibility" queues a verification that only the worker sends;
"Request authorization" queues the PAS request that only the outbox sends; both are audited with the
user's fhirUser. The browser walk over the same panels is in test_browser_panels.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from html import escape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent
from sqlalchemy import select

from app.api.app import create_app
from app.db import audit_repo, eligibility_repo, priorauth_repo
from app.db.engine import read_only
from app.db.models import Outbox
from app.domain.eligibility import CheckKey
from app.domain.tenancy import DEFAULT_EHR
from app.web.smart_panels import priorauth_panel
from tests.eligibility.helpers import response
from tests.spine.helpers import ADMIN
from tests.web.conftest import Clock
from tests.web.helpers import csrf_of
from tests.web.payer_panels_env import (
    COVERAGE,
    ENCOUNTER,
    ORDER,
    PATIENT,
    PayerDouble,
    panels_env,
    run_eligibility,
    run_outbox,
)
from tests.web.smart_env import PRACTITIONER, SmartEnv
from tests.web.test_smart import launch, sign_in_at_ehr


@pytest.fixture(scope="module")
def module_env(
    module_db_url: str, tmp_path_factory: pytest.TempPathFactory, module_clock: Clock
) -> Iterator[tuple[SmartEnv, PayerDouble]]:
    with panels_env(module_db_url, tmp_path_factory.mktemp("panels"), clock=module_clock) as found:
        yield found


@pytest.fixture
def env(module_env: tuple[SmartEnv, PayerDouble], clock: Clock) -> Iterator[SmartEnv]:
    yield module_env[0]
    clock.reset()  # the next module database is seeded at the real time, not where a test left the clock


@pytest.fixture
def payer(module_env: tuple[SmartEnv, PayerDouble]) -> Iterator[PayerDouble]:
    double = module_env[1]
    yield double
    double.eligibility, double.eligibility_status = PayerDouble().eligibility, 200


@pytest.fixture
def client(env: SmartEnv) -> Iterator[TestClient]:
    """Signed in through the SMART launch of enc-032."""
    with TestClient(create_app(env.services), base_url="https://testserver") as c:
        assert c.get(sign_in_at_ehr(launch(c, env)), follow_redirects=False).status_code == 303
        yield c


def checks(env: SmartEnv) -> list[dict[str, Any]]:
    with read_only(env.services.engine) as conn:
        return eligibility_repo.list_checks(conn, coverage=COVERAGE)


def test_panels_show_the_stored_answer_the_api_estimate_and_the_alert(client: TestClient, env: SmartEnv) -> None:
    html = client.get("/smart/app").text
    assert "Encounter enc-032" in html and "Ada Testpatient" in html
    section = html.split('id="elig-h"', 1)[1].split("</section>", 1)[0]
    assert "Coverage Coverage/cov-032-1 with Lakeshore Health Alliance" in section
    assert '<strong class="elig-active">active</strong>' in section and "source fhir" in section
    assert "Policy is currently in force." in section  # the payer's words
    api = client.get(f"/api/eligibility?patient=Patient/{PATIENT}", headers={"Authorization": f"Bearer {ADMIN}"})
    estimate = api.json()["estimate"]
    assert estimate["patient_share"] == "25.00"
    assert "Patient's estimated share: $25.00" in section
    for step in estimate["steps"]:  # the arithmetic is the API's, step for step
        assert f"<li>{escape(step)}</li>" in section
    assert 'action="/smart/app/eligibility"' in section and "hx-get" not in section  # nothing pending

    pa = html.split('id="pa-h"', 1)[1].split("</section>", 1)[0]
    assert f"<strong>{ORDER}</strong> (72148) with Lakeshore Health Alliance: <strong>open</strong>" in pa
    assert 'action="/smart/app/authorize"' in pa and f'name="order" value="{ORDER}"' in pa


def test_recheck_is_queued_for_the_worker_and_its_answer_shown(
    client: TestClient, env: SmartEnv, payer: PayerDouble
) -> None:
    html = client.get("/smart/app").text
    sent = payer.calls("eligibility")
    assert client.post("/smart/app/eligibility", data={"csrf": "forged"}).status_code == 403
    done = client.post("/smart/app/eligibility", data={"csrf": csrf_of(html)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/smart/app?rechecked=1")
    assert payer.calls("eligibility") == sent  # the web request called no payer
    [pending] = [c for c in checks(env) if c["state"] == "pending" and c["trigger"] == "manual"]
    assert (pending["trigger"], pending["encounter"], pending["service_date"]) == ("manual", f"Encounter/{ENCOUNTER}",
                                                                                   "2026-10-19")  # fmt: skip
    page = client.get("/smart/app?rechecked=1").text
    assert "Eligibility re-check requested." in page and "Re-check pending" in page
    fragment = client.get("/smart/app/panels/eligibility")
    assert fragment.status_code == 200 and 'hx-get="/smart/app/panels/eligibility?poll=1"' in fragment.text
    assert "<html" not in fragment.text and "Re-check pending" in fragment.text
    # asking again while it is pending queues nothing more
    client.post("/smart/app/eligibility", data={"csrf": csrf_of(html)})
    assert len([c for c in checks(env) if c["state"] == "pending" and c["trigger"] == "manual"]) == 1
    assert 'hx-get="/smart/app/panels/eligibility?poll=9"' in client.get("/smart/app/panels/eligibility?poll=8").text
    tired = client.get("/smart/app/panels/eligibility?poll=59").text  # two minutes: stop asking, offer a reload
    assert "hx-get" not in tired and "Re-check pending" in tired and 'href="/smart/app#elig-h">Reload' in tired

    payer.eligibility = response(inforce=False)
    assert run_eligibility(env.services) == 1  # the worker's duty sends it
    assert payer.calls("eligibility") == sent + 1
    panel = client.get("/smart/app/panels/eligibility").text
    assert '<strong class="elig-inactive">inactive</strong>' in panel and "Policy terminated." in panel
    assert "Re-check pending" not in panel and "hx-get" not in panel and "estimated share" not in panel
    with read_only(env.services.engine) as conn:
        events = audit_repo.list_events(conn, action="eligibility-recheck")
    assert [(e["actor"], e["actor_kind"], e["entity"]) for e in events] == [(PRACTITIONER, "smart", COVERAGE)] * 2
    assert [e["detail"]["queued"] for e in events] == [True, False]  # the second found it pending

    payer.eligibility_status = 503  # the payer is down: unverified, with the reason, never a silent pass
    client.post("/smart/app/eligibility", data={"csrf": csrf_of(html)})
    assert run_eligibility(env.services) == 1
    panel = client.get("/smart/app/panels/eligibility").text
    assert '<strong class="elig-unverified">unverified</strong>' in panel and "Why: " in panel and "503" in panel

    payer.eligibility, payer.eligibility_status = PayerDouble().eligibility, 200  # asked again: active again
    client.post("/smart/app/eligibility", data={"csrf": csrf_of(html)})
    with read_only(env.services.engine) as conn:  # the claim rules keep the row's last answer while it waits
        kept = eligibility_repo.results_for_patient(conn, f"Patient/{PATIENT}")
    assert sorted(r["status"] for r in kept if r["coverage"] == COVERAGE) == ["active", "unverified"]
    waiting = client.get("/smart/app/panels/eligibility").text  # the newest answer stays in view while it waits
    assert '<strong class="elig-unverified">unverified</strong>' in waiting and "Re-check pending" in waiting
    assert run_eligibility(env.services) == 1
    assert '<strong class="elig-active">active</strong>' in client.get("/smart/app/panels/eligibility").text


def test_request_authorization_queues_pas_through_the_outbox(
    client: TestClient, env: SmartEnv, payer: PayerDouble
) -> None:
    html = client.get("/smart/app").text
    form = {"csrf": csrf_of(html), "order": ORDER}
    assert client.post("/smart/app/authorize", data={**form, "csrf": "forged"}).status_code == 403
    other = client.post("/smart/app/authorize", data={**form, "order": "ServiceRequest/sr-005-1"})
    assert other.status_code == 404  # not an order of the launch's encounter
    done = client.post("/smart/app/authorize", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/smart/app?requested=")
    assert payer.calls("pas") == 0  # queued, not sent by the web request
    with read_only(env.services.engine) as conn:
        alert = priorauth_repo.get_alert(conn, ORDER)
        kinds = [r.kind for r in conn.execute(select(Outbox.kind).where(Outbox.destination == "pas"))]
        events = audit_repo.list_events(conn, action="pa-request")
    assert alert is not None and alert.status == "submitted" and kinds == ["pas-submit"]
    assert [(e["actor"], e["actor_kind"], e["entity"]) for e in events] == [(PRACTITIONER, "smart", ORDER)]
    exported = client.get("/api/audit", params={"action": "pa-request"}, headers={"Authorization": f"Bearer {ADMIN}"})
    [event] = [e["resource"] for e in exported.json()["entry"]]
    AuditEvent.model_validate(event)
    assert event["entity"][0]["what"]["reference"] == ORDER and event["agent"][0]["altId"] == PRACTITIONER
    page = client.get(done.headers["location"]).text
    assert f"Authorization requested for {ORDER}" in page and "<strong>submitted</strong>" in page

    run_outbox(env.services)
    assert payer.calls("pas") == 1
    page = client.get("/smart/app").text
    pa = page.split('id="pa-h"', 1)[1].split("</section>", 1)[0]
    assert "<strong>approved</strong>" in pa and "Authorization number AUTH0001" in pa
    assert 'action="/smart/app/authorize"' not in pa
    again = client.post("/smart/app/authorize", data=form)
    assert again.status_code == 409 and "already approved" in again.text


def test_actions_need_the_smart_session(env: SmartEnv) -> None:
    with TestClient(create_app(env.services), base_url="https://testserver") as anonymous:
        assert anonymous.post("/smart/app/eligibility", data={"csrf": "x"}).status_code == 401
        assert anonymous.post("/smart/app/authorize", data={"csrf": "x", "order": ORDER}).status_code == 401
        assert anonymous.get("/smart/app/panels/eligibility").status_code == 401


def test_a_later_appointments_check_is_not_shown_as_pending(client: TestClient, env: SmartEnv, clock: Clock) -> None:
    run_eligibility(env.services)  # nothing left due from an earlier test
    now = clock()
    later = CheckKey(COVERAGE, (now + timedelta(days=3)).date(), "day-before", f"Patient/{PATIENT}", "LKSH1",
                     now + timedelta(hours=1), appointment="Appointment/appt-later")  # fmt: skip
    with env.services.engine.begin() as conn:
        eligibility_repo.request_checks(conn, [later], now=now)
    panel = client.get("/smart/app/panels/eligibility").text
    assert "Re-check pending" not in panel and "hx-get" not in panel
    clock.now = now + timedelta(minutes=61)  # due now: the worker would send it
    assert "Re-check pending" in client.get("/smart/app/panels/eligibility").text


def test_an_order_whose_payer_takes_no_pas_requests_has_no_request_button(env: SmartEnv) -> None:
    payers = env.services.config.payers
    lakeshore = replace(payers.profile_for("LKSH1"), prior_auth_endpoint=None)
    without = replace(payers, profiles={**payers.profiles, "LKSH1": lakeshore})
    with read_only(env.services.engine) as conn:
        [alert] = priorauth_panel(conn, without, f"Encounter/{ENCOUNTER}", ehr=DEFAULT_EHR)
        [offered] = priorauth_panel(conn, payers, f"Encounter/{ENCOUNTER}", ehr=DEFAULT_EHR)
    assert (alert["electronic"], alert["requestable"]) == (False, False)
    assert offered["electronic"] is True
