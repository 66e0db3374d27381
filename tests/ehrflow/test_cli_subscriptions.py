"""``claimbridge ehrs add`` discovery and ``subscriptions create`` options, with respx at the EHR's HTTP edge."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from typer.testing import CliRunner

from app.cli.main import app
from app.db import audit_repo
from app.db.engine import make_engine, read_only
from tests.ehr.metadata import topic_definition

BASE = "https://ehr.example/fhir"
ENDPOINT = "https://claimbridge.example/notifications"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "conformance"
ADMISSION = "http://fhirserver.org/topics/patient-admission"
runner = CliRunner()


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", db_url)
    monkeypatch.setenv("CLAIMBRIDGE_ADAPTERS__OUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("CLAIMBRIDGE_REFDATA_DIR", str(tmp_path / "refdata"))
    return tmp_path


@pytest.fixture
def ehr() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def created_bodies(router: respx.MockRouter) -> list[dict]:
    return [json.loads(call.request.content) for call in router.calls if call.request.method == "POST"]


def accept_creates(router: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(201, json={**body, "id": f"s{len(created_bodies(router)) + 1}", "status": "requested"})

    router.post(f"{BASE}/Subscription").mock(side_effect=answer)


def test_ehrs_add_on_the_ig_example_names_topics_it_cannot_type(env: Path, ehr: respx.MockRouter) -> None:
    statement = json.loads((FIXTURES / "capability_statement_example.json").read_text())
    ehr.get(f"{BASE}/metadata").respond(json=statement)
    code, out, _ = run("ehrs", "add", "--name", "ig", "--base-url", BASE)
    assert code == 0
    assert out.splitlines()[0] == "added EHR ig: supports $events, 0 topic(s)"
    assert ADMISSION in out.splitlines()[1] and "--topic TYPE=URL" in out

    statement["rest"][0]["resource"].append({"type": "Basic", "interaction": [{"code": "search-type"}]})
    ehr.get(f"{BASE}/metadata").respond(json=statement)
    found = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": topic_definition(ADMISSION, "Encounter", "t1")}],
    }
    basic = ehr.get(f"{BASE}/Basic").respond(json=found)
    code, out, _ = run("ehrs", "add", "--name", "ig", "--base-url", BASE)
    assert (code, out.splitlines()[:2]) == (
        0,
        ["updated EHR ig: supports $events, 1 topic(s)", f"  Encounter: {ADMISSION}"],
    )
    assert basic.calls.last.request.url.params["code"] == "http://hl7.org/fhir/fhir-types|SubscriptionTopic"


def test_subscriptions_create_sends_filters_timeout_max_count_and_end(env: Path, ehr: respx.MockRouter) -> None:
    assert (
        run("ehrs", "add", "--name", "e", "--base-url", BASE, "--no-discover", "--topic", f"Encounter={ADMISSION}")[0]
        == 0
    )
    accept_creates(ehr)
    code, out, err = run(
        "subscriptions", "create", "--ehr", "e", "--endpoint", ENDPOINT, "--type", "Encounter",
        "--filter", "Encounter.patient=Patient/1", "--filter", "status=finished",
        "--timeout", "30", "--max-count", "5", "--end", "2027-01-01T00:00:00+00:00",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == f"created Subscription/s1 (Encounter, id-only, {ADMISSION}): requested"
    (body,) = created_bodies(ehr)
    filters = [e["valueString"] for e in body["_criteria"]["extension"]]
    channel = {e["url"].rsplit("-", 1)[-1]: e for e in body["channel"]["extension"]}
    assert filters == ["Encounter.patient=Patient/1", "status=finished"]
    assert (channel["timeout"]["valueUnsignedInt"], channel["count"]["valuePositiveInt"]) == (30, 5)
    assert body["end"] == "2027-01-01T00:00:00Z"
    engine = make_engine(os.environ["CLAIMBRIDGE_DATABASE_URL"])
    with read_only(engine) as conn:
        events = audit_repo.list_events(conn, action="config-change")
    engine.dispose()
    assert [(e["entity"], e["detail"].get("resource_type")) for e in events] == [
        ("ehr/e", None),
        ("subscription/s1", "Encounter"),
    ]


def test_subscriptions_create_refuses_bad_options_and_silent_fallbacks(env: Path, ehr: respx.MockRouter) -> None:
    assert (
        run("ehrs", "add", "--name", "e", "--base-url", BASE, "--no-discover", "--topic", f"Encounter={ADMISSION}")[0]
        == 0
    )
    accept_creates(ehr)
    base = ("subscriptions", "create", "--ehr", "e", "--endpoint", ENDPOINT)
    code, _, err = run(*base, "--end", "2027-01-01")
    assert code == 2 and "needs a time zone" in err
    code, _, err = run(*base, "--timeout", "0")
    assert code == 2
    code, _, err = run(*base)  # three types have no topic on this EHR
    assert code == 2 and "no topic for Coverage, ServiceRequest, MedicationRequest" in err
    code, _, err = run(*base, "--type", "Claim")
    assert code == 2 and "no subscription for Claim" in err
    assert created_bodies(ehr) == []


def test_an_ehr_registered_plain_says_so(env: Path, ehr: respx.MockRouter) -> None:
    assert run("ehrs", "add", "--name", "hapi", "--base-url", BASE, "--no-discover", "--plain")[0] == 0
    accept_creates(ehr)
    code, out, _ = run("subscriptions", "create", "--ehr", "hapi", "--endpoint", ENDPOINT, "--type", "Coverage")
    assert code == 0
    assert out.splitlines() == [
        "plain R4 criteria, not topics (EHR hapi is registered with --plain)",
        "created Subscription/s1 (Coverage, empty, Coverage?status=active): requested",
    ]
