"""The batch submitter: refusals held with a finding, ISA13 from the database, 999 rejections, the CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.db import billing_repo, claims_repo
from app.db.models import Ack999, ClaimSubmission, ClaimVersion
from app.domain.claim_status import ClaimEvent
from app.fhir.r4 import validate_resource
from tests.clearinghouse.answers import TransactionVerdict, ack_999, clm01s
from tests.clearinghouse.conftest import Flow

IK3_IK4 = ("IK3*CLM*26**8", "IK4*5:1*1331*7*1X")


def drop_diagnoses(flow: Flow, claim_id: str) -> None:
    """Make the stored claim one the 837P builder must refuse (no diagnosis for HI)."""
    with flow.services.engine.begin() as conn:
        version = conn.execute(select(ClaimVersion).where(ClaimVersion.claim_id == claim_id)).one()
        resource = {k: v for k, v in dict(version.resource).items() if k != "diagnosis"}
        conn.execute(update(ClaimVersion).where(ClaimVersion.id == version.id).values(resource=resource))


def test_refused_claims_stay_held_with_the_reason_and_numbers_increase(flow: Flow) -> None:
    flow.post_samples(4)
    flow.services.worker(worker_id="w").drain()
    ready = sorted(k for k, c in flow.claims().items() if c["status"] == "ready")
    assert len(ready) >= 3
    drop_diagnoses(flow, ready[0])
    submitter = flow.services.submitter()
    first = submitter.submit()
    assert [c for c, _ in first.held] == [ready[0]]
    assert "diagnos" in " ".join(first.held[0][1]).lower()
    claims = flow.claims()
    held = claims[ready[0]]
    assert held["status"] == "held"
    assert [f["rule"] for f in held["findings"] if f["severity"] == "error"] == ["x12.refused"]
    assert sorted(c for c, _ in first.submitted) == ready[1:]
    assert {claims[c]["status"] for c in ready[1:]} == {"submitted"}
    assert first.delivery is not None and clm01s(first.delivery.payload["x12"]) == [p for _, p in first.submitted]

    nothing = submitter.submit()  # submitted claims are not sent again; the held one stays held
    assert (nothing.batch_id, nothing.submitted, nothing.held) == (None, (), ())
    with flow.services.engine.begin() as conn:  # rejected by the 999, then fixed: ready again, the next ISA13
        for event in (ClaimEvent.REJECTED_999, ClaimEvent.VERSION_CLEAN):
            claims_repo.apply_transition(conn, ready[1], event, now=flow.clock.now())
    second = submitter.submit()
    assert first.interchange_control_number is not None and second.interchange_control_number is not None
    assert second.interchange_control_number == first.interchange_control_number + 1
    assert [c for c, _ in second.submitted] == [ready[1]]
    assert dict(second.submitted)[ready[1]] == dict(first.submitted)[ready[1]]  # CLM01 is stamped once


def test_control_numbers_are_unique_and_increasing_under_concurrency(flow: Flow) -> None:
    engine = flow.services.engine
    taken: list[list[int]] = [[] for _ in range(4)]

    def take(slot: int) -> None:
        for _ in range(10):
            with engine.begin() as conn:
                taken[slot].append(billing_repo.next_control_number(conn))

    threads = [threading.Thread(target=take, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [n for numbers in taken for n in numbers]
    assert sorted(every) == list(range(1, 41))
    assert all(numbers == sorted(numbers) for numbers in taken)
    with engine.begin() as conn:
        assert billing_repo.next_control_number(conn, "other") == 1  # counters are independent by name


def test_a_rejected_999_rejects_its_claims_with_the_error_locations(flow: Flow) -> None:
    flow.post_samples(3)
    flow.services.worker(worker_id="w").drain()
    result = flow.services.submitter().submit()
    assert result.interchange_control_number is not None and result.submitted
    text = ack_999(
        result.interchange_control_number,
        [TransactionVerdict("0001", "R", IK3_IK4), TransactionVerdict("0002", "A")],
        when=flow.clock.now().date(),
    )
    outcome = flow.services.ingester().ingest(text.encode(), name="ack.999", source="test")
    assert outcome.kind == "999" and outcome.matched == len(result.submitted) and outcome.parse_issues == 0
    assert outcome.unmatched == [
        {"kind": "999", "group": str(result.interchange_control_number), "transaction": "0002"}
    ]
    claims = flow.claims()
    assert {claims[c]["status"] for c, _ in result.submitted} == {"rejected"}
    for claim_id, _ in result.submitted:
        (response,) = flow.api(f"/api/claims/{claim_id}/responses")
        resource = response["resource"]
        validate_resource(resource)
        codes = [e["code"]["coding"][0]["code"] for e in resource["error"]]
        assert resource["outcome"] == "error" and codes == ["IK304-8", "IK403-7"]
    with flow.services.engine.connect() as conn:
        acks = conn.execute(select(Ack999).order_by(Ack999.id)).all()
        subs = conn.execute(select(ClaimSubmission.ack_999)).scalars().all()
    assert [(a.transaction_control_number, a.accepted, a.batch_id is not None) for a in acks] == [
        ("0001", False, True),
        ("0002", True, True),
    ]
    assert acks[0].errors[0]["segment_id"] == "CLM" and acks[0].errors[0]["elements"][0]["bad_value"] == "1X"
    assert set(subs) == {"rejected"}
    assert flow.services.submitter().submit().batch_id is None  # rejected claims wait for a fix


@pytest.fixture
def cli_env(flow: Flow, monkeypatch: pytest.MonkeyPatch) -> Flow:
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", flow.services.settings.database_url)
    monkeypatch.setenv("CLAIMBRIDGE_ADAPTERS__OUT_DIR", str(flow.services.settings.adapters.out_dir))
    monkeypatch.setenv("CLAIMBRIDGE_REFDATA_DIR", str(flow.tmp / "refdata"))
    return flow


def test_cli_submit_delivers_the_file_and_ingest_is_idempotent(cli_env: Flow, tmp_path: Path) -> None:
    flow = cli_env
    flow.post_samples(3)
    flow.services.worker(worker_id="w").drain()
    runner = CliRunner()
    result = runner.invoke(cli, ["x12", "submit", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["delivery"] == "delivered" and out["submitted"]
    assert [p.name for p in flow.outbox_dir.iterdir()] == [out["file_name"]]
    ack = tmp_path / "ack.999"
    ack.write_text(
        ack_999(out["interchange_control_number"], [TransactionVerdict("0001", "A")], when=flow.clock.now().date())
    )
    first = runner.invoke(cli, ["x12", "ingest", str(ack), "--json"])
    again = runner.invoke(cli, ["x12", "ingest", str(ack)])
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    (row,) = json.loads(first.stdout)
    assert (row["kind"], row["duplicate"], row["matched"], row["unmatched"]) == (
        "999",
        False,
        len(out["submitted"]),
        [],
    )
    assert "already ingested, nothing changed" in again.stdout
    missing = runner.invoke(cli, ["x12", "ingest", str(tmp_path / "nope.835")])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
