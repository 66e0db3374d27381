"""Dead inbox rows: listed and replayed (admin API and CLI), expanded again without a second job, audited.

SQLite and PostgreSQL, through the real app; the worker's expansion duty run in the test.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from app.api.app import create_app
from app.cli.main import app as cli
from app.db import audit_repo
from app.db.engine import read_only
from app.db.models import Inbox, Job
from app.services import Services
from tests.spine.helpers import ADMIN, SECRET, expand, make_services, notification, register, sample_bundles

HEADERS = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}", "X-Claimbridge-User": "ops.lead"}


def multi_event(bundle: dict[str, Any], *numbers: int) -> dict[str, Any]:
    """One backport notification carrying events ``numbers`` (the focus repeated), bundle id of the first."""
    note = notification(bundle, numbers[0])
    params = note["entry"][0]["resource"]["parameter"]
    event = next(p for p in params if p["name"] == "notification-event")
    for n in numbers[1:]:
        extra = copy.deepcopy(event)
        next(p for p in extra["part"] if p["name"] == "event-number")["valueString"] = str(n)
        params.append(extra)
    return note


def post(client: TestClient, note: dict[str, Any]) -> int:
    return client.post("/notifications", content=orjson.dumps(note), headers=HEADERS).status_code


def job_events(services: Services) -> list[int]:
    with services.engine.connect() as conn:
        return sorted(conn.execute(select(Job.event_number)).scalars())


def kill_row(services: Services, inbox_id: int) -> str:
    """Make a pending row's expansion fail (its stored jobs unreadable); returns what it held."""
    with services.engine.begin() as conn:
        events = conn.execute(select(Inbox.events).where(Inbox.id == inbox_id)).scalar_one()
        conn.execute(update(Inbox).where(Inbox.id == inbox_id).values(events="[[not json"))
    expand(services.engine)
    return str(events)


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Any:
    svc = make_services(db_url, tmp_path)
    register(svc, sub_id="claimbridge-demo")
    yield svc
    svc.close()


def test_a_dead_row_replayed_through_the_api_expands_without_a_second_job(services: Services) -> None:
    bundle = sample_bundles(1)[0]
    with TestClient(create_app(services)) as client:
        assert post(client, multi_event(bundle, 1, 2)) == 202
        with services.engine.connect() as conn:
            inbox_id = conn.execute(select(Inbox.id)).scalar_one()
        events = kill_row(services, inbox_id)
        dead = client.get("/api/inbox/dead", headers=ADMIN_AUTH)
        assert dead.status_code == 200
        (row,) = dead.json()
        assert (row["id"], row["subscription_id"], row["jobs"]) == (inbox_id, "claimbridge-demo", None)
        assert row["reason"].startswith("expansion failed") and "body" not in row
        assert "claimbridge_inbox_dead 1.0" in client.get("/metrics", headers=ADMIN_AUTH).text
        assert post(client, notification(bundle, 2)) == 202  # event 2 again, alone: its own job meanwhile
        expand(services.engine)
        assert job_events(services) == [2]

        with services.engine.begin() as conn:  # the operator fixes what made it fail
            conn.execute(update(Inbox).where(Inbox.id == inbox_id).values(events=events))
        replayed = client.post(f"/api/inbox/{inbox_id}/replay", headers=ADMIN_AUTH)
        assert replayed.status_code == 200 and replayed.json() == {"replayed": 1}
        again = client.post(f"/api/inbox/{inbox_id}/replay", headers=ADMIN_AUTH)
        assert again.status_code == 404 and again.json()["resourceType"] == "OperationOutcome"
        assert expand(services.engine) == 1
        assert job_events(services) == [1, 2]  # event 2 is not a second job: its dedupe key
        assert client.get("/api/inbox/dead", headers=ADMIN_AUTH).json() == []
        assert client.post("/api/inbox/replay", headers=ADMIN_AUTH).json() == {"replayed": 0}
        assert client.get("/api/inbox/dead", params={"limit": 0}, headers=ADMIN_AUTH).status_code == 400
        assert client.get("/api/inbox/dead").status_code == 401
    with read_only(services.engine) as conn:
        audits = [(e["actor"], e["entity"], e["detail"]) for e in audit_repo.list_events(conn, action="replay")]
    assert audits == [
        ("ops.lead", f"inbox/{inbox_id}", {"replayed": 1}),
        ("ops.lead", "inbox-dead/all", {"replayed": 0}),
    ]


def test_an_event_of_a_pending_multi_event_notification_resent_alone_is_a_200_duplicate(
    services: Services,
) -> None:
    bundle = sample_bundles(1)[0]
    with TestClient(create_app(services)) as client:
        assert post(client, multi_event(bundle, 1, 2, 3)) == 202  # acknowledged, not expanded yet
        assert post(client, notification(bundle, 2)) == 200  # its event 2 again, another bundle
        assert post(client, multi_event(bundle, 3, 4)) == 202  # 4 is new: stored (3 still one job)
        assert post(client, multi_event(bundle, 2, 3)) == 200  # nothing new
    expand(services.engine)
    assert job_events(services) == [1, 2, 3, 4]
    with TestClient(create_app(services)) as client:
        assert post(client, notification(bundle, 4)) == 200  # expanded: the job's key answers
    with services.engine.connect() as conn:
        assert conn.execute(select(Inbox.bundle_id).order_by(Inbox.id)).scalars().all() == ["t1-1", "t3-3"]


def test_cli_lists_and_replays_dead_inbox_rows(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("USER", "night.operator")
    runner = CliRunner()
    with TestClient(create_app(services)) as client:
        assert post(client, multi_event(sample_bundles(1)[0], 1, 2)) == 202
    with services.engine.connect() as conn:
        inbox_id = conn.execute(select(Inbox.id)).scalar_one()
    events = kill_row(services, inbox_id)

    listed = runner.invoke(cli, ["inbox", "dead", "--json"])
    assert listed.exit_code == 0 and [r["id"] for r in json.loads(listed.stdout)] == [inbox_id]
    table = runner.invoke(cli, ["inbox", "dead"])
    assert table.exit_code == 0 and f"│ {inbox_id} " in table.stdout  # a rich table (wrapped to the terminal)
    for args, message in (
        (["inbox", "replay", "424242"], "no dead inbox row 424242"),
        (["inbox", "replay", "abc"], "inbox ID must be a whole number, not 'abc'"),
        (["inbox", "replay", str(2**64)], "inbox ID must be a whole number"),
        (["inbox", "replay"], "give a dead inbox row ID or --all (not both)"),
        (["inbox", "replay", "1", "--all"], "give a dead inbox row ID or --all (not both)"),
    ):
        bad = runner.invoke(cli, args)
        assert bad.exit_code == 2, args
        assert len(bad.stderr.strip().splitlines()) == 1 and message in bad.stderr, (args, bad.stderr)

    with services.engine.begin() as conn:
        conn.execute(update(Inbox).where(Inbox.id == inbox_id).values(events=events))
    done = runner.invoke(cli, ["inbox", "replay", str(inbox_id)])
    assert (done.exit_code, done.stdout) == (0, "replayed 1 dead inbox row\n")
    assert expand(services.engine) == 1 and job_events(services) == [1, 2]
    assert runner.invoke(cli, ["inbox", "replay", "--all"]).stdout == "replayed 0 dead inbox rows\n"
    with read_only(services.engine) as conn:
        audits = [(e["actor"], e["actor_kind"], e["entity"]) for e in audit_repo.list_events(conn, action="replay")]
    assert audits == [("night.operator", "cli", f"inbox/{inbox_id}"), ("night.operator", "cli", "inbox-dead/all")]
