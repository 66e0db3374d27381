"""Da Vinci PAS client against a payer double at the HTTP edge (respx): $submit, A1/A3/A4, $inquire."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.api.app import create_app
from app.cli.main import app as cli
from app.db import claims_repo, priorauth_repo
from app.db.models import Claim, Outbox
from app.domain.preauth import REVIEW_ACTION_CODE, grants
from app.priorauth.alerts import rules_for
from app.priorauth.pas import ITEM_TRACE, TRACE_SYSTEM, bundle_problems
from app.priorauth.reevaluate import PriorAuthReevaluator
from app.priorauth.submit import PasError, PasInquirer, submit_order
from app.services import Services, build_services
from app.settings import Settings
from app.worker.outbox import OutboxDispatcher
from tests.priorauth.test_alerts import HEADERS, ORDER, bundle, send
from tests.spine.helpers import ADMIN, SetClock, register

ROOT = Path(__file__).resolve().parents[2]
PAS_KIT = ROOT / "tests" / "fixtures" / "conformance" / "inferno-davinci-pas-test-kit"
PAYER = "https://pas.lakeshore.example/fhir"
PAYER_SECRET = "pas-payer-subscription-secret-0123456789"


@pytest.fixture
def clock() -> SetClock:
    return SetClock(datetime(2026, 12, 2, 15, 0, tzinfo=UTC))


@pytest.fixture
def services(db_url: str, tmp_path: Path, clock: SetClock) -> Iterator[Services]:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    with (config / "payers" / "lakeshore.yaml").open("a") as f:
        f.write(f"prior_auth_endpoint: {PAYER}\nprior_auth_token_env: CB_TEST_PAS_TOKEN\n")
    settings = Settings(
        env="test",
        database_url=db_url,
        config_dir=config,
        refdata_dir=tmp_path / "refdata",
        api={"admin_token": ADMIN},
        adapters={"out_dir": str(tmp_path / "out")},
    )
    svc = build_services(settings, clock=clock)
    register(svc, "claimbridge-demo")
    yield svc
    svc.close()


def answer(name: str, *, today: datetime) -> dict[str, Any]:
    """A fixture response as the payer double sends it: its decision period moved to cover today."""
    body = json.loads((PAS_KIT / name).read_text())
    text = json.dumps(body).replace("2005-05-02", today.date().isoformat())
    return json.loads(text.replace("2005-06-02", (today + timedelta(days=30)).date().isoformat()))


def payer_double(router: respx.MockRouter, answers: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A PAS server: checks the bearer token and that the request is conformant, answers in turn."""
    received: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        operation = request.url.path.rsplit("/", 1)[-1]
        if request.headers.get("authorization") != "Bearer pas-token":
            return httpx.Response(401)
        sent = json.loads(request.content)
        received.append(sent)
        if bundle_problems(sent):
            return httpx.Response(400, json={"resourceType": "OperationOutcome", "issue": [{"code": "invalid"}]})
        return httpx.Response(200, json=answers[operation].pop(0))

    router.post(url__startswith=f"{PAYER}/Claim/").mock(side_effect=handle)
    return received


def deliver(services: Services) -> None:
    services.worker().duty(OutboxDispatcher).run_once()


def alert(services: Services) -> priorauth_repo.Alert:
    with services.engine.connect() as conn:
        found = priorauth_repo.get_alert(conn, ORDER)
    assert found is not None
    return found


def open_order(services: Services) -> None:
    with TestClient(create_app(services)) as client:
        send(client, services, bundle(with_auth=False), 1)
    assert alert(services).status == "open"


def test_submit_approved_stores_the_authorization_the_claim_rules_and_crd_use(
    services: Services, clock: SetClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_PAS_TOKEN", "pas-token")
    open_order(services)
    with services.engine.begin() as conn:
        submitted = submit_order(conn, ORDER, rules_for(services.config), now=clock())
    assert submitted.status == "submitted"
    with respx.mock() as router:
        received = payer_double(router, {"$submit": [answer("valid_pa_response_bundle.json", today=clock())]})
        deliver(services)
    [sent] = received
    claim = sent["entry"][0]["resource"]
    assert claim["resourceType"] == "Claim" and claim["use"] == "preauthorization"
    assert claim["item"][0]["productOrService"]["coding"][0]["code"] == "72148"
    types = {e["resource"]["resourceType"] for e in sent["entry"]}
    assert {"Patient", "Coverage", "Organization", "ServiceRequest"} <= types
    assert all(e["fullUrl"].startswith("urn:uuid:") for e in sent["entry"])
    done = alert(services)
    assert (done.status, done.pre_auth_ref) == ("approved", "AUTH0001")
    with services.engine.connect() as conn:
        [stored] = priorauth_repo.authorizations_of(conn, "Patient/pat-032")
    assert [g.number for g in grants(stored)] == ["AUTH0001"] and stored["patient"] == {"reference": "Patient/pat-032"}
    with TestClient(create_app(services)) as client:  # the order is satisfied now, for the next notification
        send(client, services, bundle(with_auth=False, status="on-hold"), 2)
    with services.engine.connect() as conn:
        tasks = [r.payload for r in conn.execute(select(Outbox).where(Outbox.kind == "pa-task").order_by(Outbox.id))]
    assert tasks[-1]["status"] == "completed" and tasks[-1]["output"][0]["valueString"] == "AUTH0001"
    with services.engine.begin() as conn, pytest.raises(PasError, match="already approved"):
        submit_order(conn, ORDER, rules_for(services.config), now=clock())


def test_denied_keeps_the_reason_and_pended_is_inquired_until_decided(
    services: Services, clock: SetClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_PAS_TOKEN", "pas-token")
    open_order(services)
    pended = json.loads((PAS_KIT / "PAS_notification_example_full_resource.json").read_text())
    with services.engine.begin() as conn:
        submit_order(conn, ORDER, rules_for(services.config), now=clock())
    inquirer = PasInquirer(engine=services.engine, rules=rules_for(services.config), clock=clock)
    with respx.mock() as router:
        received = payer_double(
            router,
            {
                "$submit": [pended],
                "$inquire": [answer("valid_pa_inquire_response_bundle.json", today=clock())],
            },
        )
        deliver(services)
        assert alert(services).status == "pended"
        assert inquirer.run_if_due() == 0  # not yet due
        clock.now += timedelta(hours=1)
        assert inquirer.run_if_due() == 1
        deliver(services)
    assert len(received) == 2 and received[1]["identifier"]["value"] != received[0]["identifier"]["value"]
    assert (alert(services).status, alert(services).pre_auth_ref) == ("approved", "AUTH0001")


def test_a_denial_is_an_alert_with_its_reason(
    services: Services, clock: SetClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_PAS_TOKEN", "pas-token")
    open_order(services)
    with services.engine.begin() as conn:
        submit_order(conn, ORDER, rules_for(services.config), now=clock())
    with respx.mock() as router:
        payer_double(router, {"$submit": [answer("valid_pa_response_bundle_denial.json", today=clock())]})
        deliver(services)
    denied = alert(services)
    assert denied.status == "denied" and denied.reason


def test_the_non_conformant_fixture_is_refused_before_it_is_sent(services: Services, clock: SetClock) -> None:
    bad = json.loads((PAS_KIT / "nonconformant_pas_bundle_v110.json").read_text())
    assert (
        bundle_problems(bad)
        and bundle_problems(json.loads((PAS_KIT / "conformant_pas_bundle_v110.json").read_text())) == []
    )
    with services.engine.begin() as conn:
        from app.db import outbox_repo

        row = outbox_repo.enqueue(
            conn,
            destination="pas",
            kind="pas-submit",
            key="x",
            now=clock(),
            payload={"order": ORDER, "payer_id": "LKSH1", "operation": "$submit", "bundle": bad},
        )
    with respx.mock(assert_all_called=False) as router:
        router.route().respond(200)
        deliver(services)
    assert not router.calls
    with services.engine.connect() as conn:
        status, error = conn.execute(select(Outbox.status, Outbox.last_error).where(Outbox.id == row)).one()
    assert status == "dead" and "ClaimFirst" in error


def test_pa_cli_submit_and_status(services: Services, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    open_order(services)
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", db_url)
    monkeypatch.setenv("CLAIMBRIDGE_CONFIG_DIR", str(services.settings.config_dir))
    runner = CliRunner()
    result = runner.invoke(cli, ["pa", "submit", "--order", ORDER])
    assert result.exit_code == 0, result.output
    assert "queued for Lakeshore" in result.stdout
    status = runner.invoke(cli, ["pa", "status", "--order", ORDER])
    assert status.exit_code == 0 and json.loads(status.stdout)["status"] == "submitted"
    bad = runner.invoke(cli, ["pa", "status", "--order", "Patient/1"])
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1
    unknown = runner.invoke(cli, ["pa", "submit", "--order", "ServiceRequest/nope"])
    assert unknown.exit_code == 2 and "not known" in unknown.stderr


def payer_notification(clock: SetClock, assertion_id: str, *, action: str, number: int) -> dict[str, Any]:
    """The PAS kit's full-resource notification, from the payer's subscription, deciding claimbridge's request."""
    note = json.loads((PAS_KIT / "PAS_notification_example_full_resource.json").read_text())
    status = note["entry"][0]["resource"]["parameter"]
    status[0]["valueReference"]["reference"] = f"{PAYER}/Subscription/pas-lakeshore"
    for param in status:
        if param["name"] == "events-since-subscription-start":
            param["valueString"] = str(number)
        for part in param.get("part") or ():
            if part["name"] == "event-number":
                part["valueString"] = str(number)
    [response] = [e["resource"] for e in note["entry"] if e["resource"]["resourceType"] == "ClaimResponse"]
    item = response["item"][0]
    item["extension"][1]["valuePeriod"] = {
        "start": clock().date().isoformat(),
        "end": (clock() + timedelta(days=30)).date().isoformat(),
    }
    item["extension"].append({"url": ITEM_TRACE, "valueIdentifier": {"system": TRACE_SYSTEM, "value": assertion_id}})
    review = item["adjudication"][0]["extension"][0]
    code = next(e for e in review["extension"] if e["url"] == REVIEW_ACTION_CODE)
    code["valueCodeableConcept"]["coding"][0].update(code=action, display=action)
    if action == "A1":
        review["extension"].append({"url": "number", "valueString": "PAS-NOTIFIED-7"})
    else:
        response["processNote"] = [{"text": "Not medically necessary: conservative therapy first"}]
    response["outcome"] = "complete"
    return note


@pytest.mark.parametrize("action", ["A1", "A3"])
def test_a_pended_request_is_decided_by_the_payers_pas_notification(
    services: Services, clock: SetClock, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    monkeypatch.setenv("CB_TEST_PAS_TOKEN", "pas-token")
    open_order(services)
    pended = json.loads((PAS_KIT / "PAS_notification_example_full_resource.json").read_text())
    with services.engine.begin() as conn:
        submit_order(conn, ORDER, rules_for(services.config), now=clock())
    with respx.mock() as router:
        payer_double(router, {"$submit": [pended]})
        deliver(services)
    waiting = alert(services)
    assert waiting.status == "pended"
    register(services, "pas-lakeshore", secret=PAYER_SECRET)  # the payer's subscription (PAS topic) to claimbridge
    headers = {**HEADERS, "Authorization": f"Bearer {PAYER_SECRET}"}
    note = payer_notification(clock, waiting.assertion_id, action=action, number=1)
    with TestClient(create_app(services)) as client:
        response = client.post("/notifications", content=json.dumps(note), headers=headers)
        assert response.status_code == 202, response.text
        services.worker().drain()
        again = client.post("/notifications", content=json.dumps(payer_notification(
            clock, waiting.assertion_id, action=action, number=2)), headers=headers)  # fmt: skip
        assert again.status_code == 202
        services.worker().drain()
    decided = alert(services)
    with services.engine.connect() as conn:
        tasks = [r.payload for r in conn.execute(select(Outbox).where(Outbox.kind == "pa-task").order_by(Outbox.id))]
        on_file = priorauth_repo.authorizations_of(conn, "Patient/pat-032")
    if action == "A1":
        assert (decided.status, decided.pre_auth_ref) == ("approved", "PAS-NOTIFIED-7")
        assert [g.number for g in grants(on_file[0])] == ["PAS-NOTIFIED-7"]  # the claim rules and CRD read it
        assert tasks[-1]["status"] == "completed"
    else:
        assert decided.status == "denied" and "conservative therapy" in (decided.reason or "")
        assert not on_file
    assert sum(1 for t in tasks if t["status"] == tasks[-1]["status"]) == 1  # the re-delivery changed nothing


def claim_rules(services: Services) -> set[str]:
    with services.engine.connect() as conn:
        [claim_id] = conn.execute(select(Claim.id).where(Claim.encounter == "Encounter/enc-032")).scalars()
        return {f["rule"] for f in claims_repo.current_findings(conn, [claim_id]).get(claim_id, [])}


def test_an_approval_re_evaluates_the_encounters_claim_so_its_prior_auth_finding_clears(
    services: Services, clock: SetClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_PAS_TOKEN", "pas-token")
    clock.now = datetime(2026, 10, 19, 20, 0, tzinfo=UTC)  # the visit's day: the approval's window covers it
    with TestClient(create_app(services)) as client:  # the MRI billed on the visit's claim, no authorization
        send(client, services, bundle(with_auth=False, status="completed"), 1)
    assert "prior-auth.prior-auth-missing" in claim_rules(services)
    with services.engine.begin() as conn:
        submit_order(conn, ORDER, rules_for(services.config), now=clock())
    with respx.mock() as router:
        payer_double(router, {"$submit": [answer("valid_pa_response_bundle.json", today=clock())]})
        deliver(services)
    assert alert(services).status == "approved"
    assert "prior-auth.prior-auth-missing" in claim_rules(services)  # nothing re-evaluated it yet
    duty = services.worker().duty(PriorAuthReevaluator)
    assert duty.run_if_due() == 1
    assert "prior-auth.prior-auth-missing" not in claim_rules(services)
    assert duty.run_if_due() == 0  # done once
