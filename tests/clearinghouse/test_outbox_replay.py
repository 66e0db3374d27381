"""Dead outbox deliveries: listed and replayed (admin API and CLI), sent again with the SAME
idempotency key (the clearinghouse at the HTTP edge, respx), every replay audited.

SQLite and PostgreSQL (the ``flow`` fixture).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from sqlalchemy import select
from typer.testing import CliRunner

from app.adapters.clearinghouse_http import ClearinghouseApi, ClearinghouseHttpAdapter
from app.cli.main import app as cli
from app.db import audit_repo, outbox_repo
from app.db.engine import read_only
from app.db.models import Outbox
from app.retry import RetryPolicy
from app.settings import ClearinghouseApiSettings, DestinationPolicy, OutboxSettings
from app.worker.outbox import OutboxDispatcher
from tests.clearinghouse.conftest import ADMIN_AUTH, Flow

BASE = "https://clearinghouse.example.test/api"
TOKEN_URL = "https://auth.example.test/oauth/token"
API = ClearinghouseApiSettings(
    base_url=BASE, token_url=TOKEN_URL, client_id="claimbridge-7", client_secret="s3cr3t-value", scope="claims:submit"
)
PAYLOAD = {"file_name": "claimbridge-000000009.837", "x12": "ISA*00*...~IEA*1*000000009~", "batch_id": 9}
KEY = "batch-000000009"


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        mock.post(TOKEN_URL).mock(
            return_value=httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
        )
        yield mock


@pytest.fixture
def send(flow: Flow) -> Iterator[OutboxDispatcher]:
    api = ClearinghouseApi(API)
    yield OutboxDispatcher(
        engine=flow.services.engine,
        adapters={"clearinghouse": ClearinghouseHttpAdapter(name="clearinghouse", api=api)},
        policy=RetryPolicy(8, 1.0, 600.0),
        metrics=flow.services.metrics,
        clock=flow.clock.now,
        settings=OutboxSettings(destinations={"clearinghouse": DestinationPolicy(max_attempts=2)}),
    )
    api.close()


def dead_delivery(flow: Flow, send: OutboxDispatcher, router: respx.MockRouter) -> tuple[int, respx.Route]:
    """A clearinghouse file refused for good (HTTP 400): a dead delivery."""
    submit = router.post(f"{BASE}/claims").mock(return_value=httpx.Response(400))
    with flow.services.engine.begin() as conn:
        outbox_id = outbox_repo.enqueue(
            conn, destination="clearinghouse", kind="837p", key=KEY, payload=PAYLOAD, now=flow.clock.now()
        )
    assert send.run_once() == 1 and send.last_result == "dead"
    return outbox_id, submit


def status(flow: Flow, outbox_id: int) -> tuple[str, int, str]:
    with flow.services.engine.connect() as conn:
        row = conn.execute(select(Outbox.status, Outbox.attempts, Outbox.key).where(Outbox.id == outbox_id)).one()
    return row.status, row.attempts, row.key


def test_a_dead_delivery_replayed_through_the_api_keeps_its_idempotency_key(
    flow: Flow, send: OutboxDispatcher, router: respx.MockRouter
) -> None:
    outbox_id, submit = dead_delivery(flow, send, router)
    listed = flow.client.get("/api/outbox/dead", headers={**ADMIN_AUTH, "X-Claimbridge-User": "ops.lead"})
    assert listed.status_code == 200
    (row,) = listed.json()
    assert (row["id"], row["destination"], row["kind"], row["key"]) == (outbox_id, "clearinghouse", "837p", KEY)
    assert "HTTP 400" in row["reason"] and "payload" not in row
    assert send.run_once() == 0  # dead: never sent again on its own
    assert "claimbridge_outbox_dead 1.0" in flow.client.get("/metrics", headers=ADMIN_AUTH).text

    submit.mock(return_value=httpx.Response(202))  # the clearinghouse fixed its side
    headers = {**ADMIN_AUTH, "X-Claimbridge-User": "ops.lead"}
    replayed = flow.client.post(f"/api/outbox/{outbox_id}/replay", headers=headers)
    assert replayed.status_code == 200 and replayed.json() == {"replayed": 1}
    assert status(flow, outbox_id) == ("pending", 0, KEY)  # a fresh attempt budget, the same key
    missing = flow.client.post(f"/api/outbox/{outbox_id}/replay", headers=headers)
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    assert send.run_once() == 1 and status(flow, outbox_id)[0] == "delivered"
    assert "claimbridge_outbox_dead 0.0" in flow.client.get("/metrics", headers=ADMIN_AUTH).text
    keys = [call.request.headers["idempotency-key"] for call in submit.calls]
    assert keys == [KEY, KEY]  # the receiver sees one file sent twice, not two files
    assert flow.client.post("/api/outbox/replay", headers=headers).json() == {"replayed": 0}
    with read_only(flow.services.engine) as conn:
        audits = [(e["actor"], e["entity"], e["detail"]) for e in audit_repo.list_events(conn, action="replay")]
    assert audits == [
        ("ops.lead", f"outbox/{outbox_id}", {"replayed": 1}),
        ("ops.lead", "outbox-dead/all", {"replayed": 0}),
    ]


def test_cli_lists_and_replays_dead_deliveries(
    flow: Flow, send: OutboxDispatcher, router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", flow.services.settings.database_url)
    monkeypatch.setenv("USER", "night.operator")
    runner = CliRunner()
    outbox_id, submit = dead_delivery(flow, send, router)
    listed = runner.invoke(cli, ["outbox", "dead", "--json"])
    assert listed.exit_code == 0 and [(r["id"], r["key"]) for r in json.loads(listed.stdout)] == [(outbox_id, KEY)]
    for args, message in (
        (["outbox", "replay", "424242"], "no dead delivery 424242"),
        (["outbox", "replay", "3x"], "outbox ID must be a whole number, not '3x'"),
        (["outbox", "replay"], "give a dead delivery ID or --all (not both)"),
    ):
        bad = runner.invoke(cli, args)
        assert bad.exit_code == 2, args
        assert len(bad.stderr.strip().splitlines()) == 1 and message in bad.stderr, (args, bad.stderr)
    done = runner.invoke(cli, ["outbox", "replay", "--all"])
    assert (done.exit_code, done.stdout) == (0, "replayed 1 dead delivery\n")
    submit.mock(return_value=httpx.Response(202))
    flow.clock.current = datetime.now(UTC) + timedelta(seconds=1)  # the CLI made it due at the real time
    assert send.run_once() == 1 and status(flow, outbox_id) == ("delivered", 0, KEY)
    assert [c.request.headers["idempotency-key"] for c in submit.calls] == [KEY, KEY]
    assert runner.invoke(cli, ["outbox", "dead"]).stdout.strip() == "no dead deliveries"
    with read_only(flow.services.engine) as conn:
        audits = [(e["actor"], e["actor_kind"], e["entity"]) for e in audit_repo.list_events(conn, action="replay")]
    assert audits == [("night.operator", "cli", "outbox-dead/all")]
