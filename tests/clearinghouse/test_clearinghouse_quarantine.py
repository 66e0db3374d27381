"""Poison inbound files: a file the ingester fails on is retried N times, quarantined, listed, counted,
and released after the fix; the good file beside it is ingested meanwhile (folder and HTTP sources).

The failure is real: an 835 whose BPR02 payment is larger than a 64-bit count of cents can hold
makes the remittance insert raise on both databases (OverflowError on SQLite, DataError on PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api.app import create_app
from app.cli.main import app as cli
from app.db import audit_repo
from app.db.engine import read_only
from app.logging import safe_error
from app.services import Services, build_services
from app.settings import Settings
from app.worker.clearinghouse import ClearinghouseCycle
from tests.clearinghouse.conftest import ADMIN_AUTH, Clock
from tests.spine.helpers import ADMIN, ROOT

FIXTURE = Path(__file__).parents[1] / "fixtures" / "x12" / "linuxforhealth-x12" / "835_managed-care.835"
GOOD = FIXTURE.read_bytes()
HUGE = "98765432109876543210"
BAD = GOOD.replace(b"BPR*I*945.00*", f"BPR*I*{HUGE}*".encode())  # payment beyond a BIGINT of cents
OTHER_GOOD = GOOD.replace(b"BPR*I*945.00*", b"BPR*I*946.00*")
ATTEMPTS = 3
BASE = "https://clearinghouse.example.test/api"
TOKEN_URL = "https://auth.example.test/oauth/token"
HTTP = {
    "clearinghouse": {
        "quarantine_after_attempts": ATTEMPTS,
        "api": {"base_url": BASE, "token_url": TOKEN_URL, "client_id": "cb", "client_secret": "s3cr3t-value"},
    },
}


@pytest.fixture
def services(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Services]:
    overrides = getattr(request, "param", {"clearinghouse": {"quarantine_after_attempts": ATTEMPTS}})
    adapters = {"out_dir": str(tmp_path / "out"), "clearinghouse": "http" if overrides is HTTP else "folder"}
    settings = Settings(
        env="test",
        database_url=db_url,
        config_dir=ROOT / "config",
        refdata_dir=tmp_path / "refdata",
        api={"admin_token": ADMIN},
        adapters=adapters,
        **overrides,
    )
    built = build_services(settings, clock=Clock(datetime(2026, 11, 20, 20, 30, tzinfo=UTC)).now)
    yield built
    built.close()


def cycle_of(services: Services) -> ClearinghouseCycle:
    """The worker's own clearinghouse duty (built as ``claimbridge worker`` builds it)."""
    return services.worker(worker_id="w").duty(ClearinghouseCycle)


def listed(client: TestClient, **params: str) -> list[dict]:
    response = client.get("/api/x12/quarantine", params=params, headers=ADMIN_AUTH)
    assert response.status_code == 200, response.text
    return list(response.json())


def quarantined_gauge(client: TestClient, source: str) -> str:
    body = client.get("/metrics", headers=ADMIN_AUTH).text
    (line,) = [
        ln for ln in body.splitlines() if ln.startswith(f'claimbridge_x12_quarantined_files{{source="{source}"}}')
    ]
    return line.split()[-1]


def test_a_poison_file_is_retried_then_quarantined_listed_counted_and_released(
    services: Services, tmp_path: Path
) -> None:
    inbox = services.settings.clearinghouse_inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "1-bad.835").write_bytes(BAD)
    (inbox / "2-good.835").write_bytes(GOOD)
    cycle = cycle_of(services)
    client = TestClient(create_app(services))

    assert cycle.run_if_due() == 1  # the good file is stored beside the failing one
    assert cycle.run_if_due() == 0  # the next poll is a minute away
    assert listed(client, status="failing")[0]["attempts"] == 1
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["2-good.835"]
    for attempt in range(2, ATTEMPTS + 1):
        assert (inbox / "1-bad.835").is_file(), f"moved before attempt {attempt}"
        assert cycle.poll() == 0
    assert not (inbox / "1-bad.835").exists()
    assert (inbox / "quarantine" / "1-bad.835").read_bytes() == BAD
    assert cycle.poll() == 0  # nothing left to try

    (entry,) = listed(client)
    assert (entry["name"], entry["source"], entry["status"], entry["attempts"]) == (
        "1-bad.835",
        "folder",
        "quarantined",
        3,
    )
    assert entry["error_class"] in ("OverflowError", "NumericValueOutOfRange") and entry["quarantined_at"]
    assert HUGE not in str(entry) and "BPR" not in str(entry) and "INSERT" not in entry["error"]
    assert client.get("/api/x12/quarantine").status_code == 401
    assert listed(client, status="failing") == []
    assert quarantined_gauge(client, "folder") == "1.0"

    # the fix: the clearinghouse sends the file again, corrected; the operator puts it in place, releases it
    (inbox / "quarantine" / "1-bad.835").write_bytes(OTHER_GOOD)
    released = client.post(f"/api/x12/quarantine/{entry['id']}/release", headers=ADMIN_AUTH)
    assert released.status_code == 200, released.text
    assert (released.json()["status"], released.json()["released_by"]) == ("released", "admin")
    assert cycle.poll() == 1
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["1-bad.835", "2-good.835"]
    assert listed(client) == [] and quarantined_gauge(client, "folder") == "0.0"
    again = client.post(f"/api/x12/quarantine/{entry['id']}/release", headers=ADMIN_AUTH)
    assert again.status_code == 409 and again.json()["resourceType"] == "OperationOutcome"
    assert client.post("/api/x12/quarantine/999/release", headers=ADMIN_AUTH).status_code == 404
    with read_only(services.engine) as conn:
        audited = audit_repo.list_events(conn, action="replay")
    assert [(e["actor"], e["actor_kind"], e["entity"]) for e in audited] == [
        ("admin", "api", f"x12-file/{entry['id']}")
    ]


def test_a_released_file_that_still_fails_gets_n_new_attempts(services: Services) -> None:
    inbox = services.settings.clearinghouse_inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "bad.835").write_bytes(BAD)
    cycle = cycle_of(services)
    client = TestClient(create_app(services))
    for _ in range(ATTEMPTS):
        cycle.poll()
    (entry,) = listed(client)
    assert client.post(f"/api/x12/quarantine/{entry['id']}/release", headers=ADMIN_AUTH).status_code == 200
    assert (inbox / "bad.835").read_bytes() == BAD  # back in the inbox, unfixed
    cycle.poll()
    (failing,) = listed(client, status="failing")
    assert (failing["id"], failing["attempts"]) == (entry["id"], 1)
    for _ in range(ATTEMPTS - 1):
        cycle.poll()
    assert [e["attempts"] for e in listed(client)] == [ATTEMPTS]
    assert (inbox / "quarantine" / "bad.835").is_file()


def test_the_count_survives_a_restart(services: Services) -> None:
    inbox = services.settings.clearinghouse_inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "bad.835").write_bytes(BAD)
    for _ in range(ATTEMPTS):  # a new worker (process) for every poll
        cycle_of(services).poll()
    assert (inbox / "quarantine" / "bad.835").is_file()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        mock.post(TOKEN_URL).mock(
            return_value=httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
        )
        mock.get(f"{BASE}/responses").mock(
            return_value=httpx.Response(200, json=[{"id": "r1", "name": "bad.835"}, {"id": "r2", "name": "good.835"}])
        )
        yield mock


@pytest.mark.parametrize("services", [HTTP], indirect=True)
def test_the_http_source_stops_downloading_a_quarantined_file(services: Services, router: respx.MockRouter) -> None:
    bad = router.get(f"{BASE}/responses/r1").mock(return_value=httpx.Response(200, content=BAD))
    router.get(f"{BASE}/responses/r2").mock(return_value=httpx.Response(200, content=GOOD))
    acked = router.delete(url__regex=rf"{BASE}/responses/r\d").mock(return_value=httpx.Response(204))
    cycle = cycle_of(services)
    client = TestClient(create_app(services))

    assert [cycle.poll() for _ in range(ATTEMPTS)] == [1, 0, 0]  # the good one once, then a duplicate
    assert cycle.poll() == 0
    assert bad.call_count == ATTEMPTS  # not downloaded any more once quarantined
    assert {c.request.url.path for c in acked.calls} == {"/api/responses/r2"}  # never acknowledged
    (entry,) = listed(client)
    assert (entry["name"], entry["source"], entry["attempts"]) == ("bad.835", "http", ATTEMPTS)
    assert quarantined_gauge(client, "http") == "1.0"

    bad.mock(return_value=httpx.Response(200, content=OTHER_GOOD))  # the clearinghouse fixed its file
    assert client.post(f"/api/x12/quarantine/{entry['id']}/release", headers=ADMIN_AUTH).status_code == 200
    cycle.poll()
    assert bad.call_count == ATTEMPTS + 1
    assert "/api/responses/r1" in {c.request.url.path for c in acked.calls}
    assert listed(client) == []


def test_the_cli_lists_and_releases_a_quarantined_file(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("CLAIMBRIDGE_ADAPTERS__OUT_DIR", str(services.settings.adapters.out_dir))
    monkeypatch.setenv("CLAIMBRIDGE_REFDATA_DIR", str(tmp_path / "refdata"))
    inbox = services.settings.clearinghouse_inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "bad.835").write_bytes(BAD)
    cycle = cycle_of(services)
    for _ in range(ATTEMPTS):
        cycle.poll()
    runner = CliRunner()
    listing = runner.invoke(cli, ["x12", "quarantine", "list", "--json"])
    assert listing.exit_code == 0, listing.output
    (entry,) = json.loads(listing.stdout)
    assert (entry["name"], entry["attempts"]) == ("bad.835", ATTEMPTS) and HUGE not in listing.stdout
    table = runner.invoke(cli, ["x12", "quarantine", "list"])
    assert table.exit_code == 0 and "bad.835" in table.stdout
    released = runner.invoke(cli, ["x12", "quarantine", "release", str(entry["id"])])
    assert released.exit_code == 0 and "released bad.835" in released.stdout
    assert (inbox / "bad.835").is_file() and not (inbox / "quarantine" / "bad.835").exists()
    again = runner.invoke(cli, ["x12", "quarantine", "release", str(entry["id"])])
    assert again.exit_code == 2 and "not quarantined" in again.stderr
    with read_only(services.engine) as conn:
        audited = audit_repo.list_events(conn, action="replay")
    assert [(e["actor_kind"], e["entity"]) for e in audited] == [("cli", f"x12-file/{entry['id']}")]
    wrong = runner.invoke(cli, ["x12", "quarantine", "list", "--status", "lost"])
    assert wrong.exit_code == 2 and len(wrong.stderr.strip().splitlines()) == 1


def test_the_kept_error_quotes_no_data() -> None:
    error = ValueError("bad segment NM1*QC*1*DOE*JANE~ for 'Jane Doe' (\"1985-02-01\")\nsecond line")
    assert safe_error(error) == ("ValueError", "bad segment … for … (…)")
