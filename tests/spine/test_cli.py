"""The ``claimbridge`` command: contracts others rely on, exit codes, and `serve` readiness."""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.heap import YOUNG_THRESHOLD
from tests.clearinghouse.answers import clm01s
from tests.phi import phi_hits
from tests.spine.helpers import ROOT, make_services, notification, sample_bundles
from tests.x12.x12_pyx12 import assert_valid_837p

runner = CliRunner()
STRONG_SECRET = "a-strong-shared-secret-0123456789"


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", db_url)
    monkeypatch.setenv("CLAIMBRIDGE_ADAPTERS__OUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("CLAIMBRIDGE_REFDATA_DIR", str(tmp_path / "refdata"))
    return db_url


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_subscriptions_add_list_and_claims_list_json(env: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(f"{STRONG_SECRET}\n")
    code, out, _ = run("subscriptions", "add", "--id", "claimbridge-demo", "--secret-file", str(secret_file))
    assert (code, out.strip()) == (0, "added subscription claimbridge-demo")
    code, out, _ = run("subscriptions", "list", "--json")
    assert code == 0
    assert [s["id"] for s in json.loads(out)] == ["claimbridge-demo"]
    services = make_services(env, tmp_path)
    from fastapi.testclient import TestClient

    from app.api.app import create_app

    with TestClient(create_app(services)) as client:
        headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {STRONG_SECRET}"}
        for i, bundle in enumerate(sample_bundles(3), start=1):
            assert (
                client.post(
                    "/notifications", content=orjson.dumps(notification(bundle, i)), headers=headers
                ).status_code
                == 202
            )
    services.worker(worker_id="w").drain()
    services.close()
    code, out, _ = run("claims", "list", "--json")
    claims = json.loads(out)
    assert code == 0
    assert len(claims) == 3
    for claim in claims:
        assert {"id", "encounter", "payer", "status", "findings", "claim"} <= claim.keys()
        assert claim["claim"]["resourceType"] == "Claim"


def test_subscription_from_an_inferno_subscription_file(env: str, tmp_path: Path) -> None:
    path = ROOT / "tests" / "fixtures" / "conformance" / "Subscription_id-only.json"
    code, _, err = run("subscriptions", "add", "--from-file", str(path))
    assert code == 2  # the sample has no id yet (the EHR assigns it)
    assert "--id" in err
    code, _, err = run("subscriptions", "add", "--from-file", str(path), "--id", "inferno-1")
    assert code == 2  # its header carries the sample's SAMPLE_TOKEN: too weak to register
    assert "secret is 12 characters; at least 20 are required" in err
    secret_file = tmp_path / "secret"
    secret_file.write_text(STRONG_SECRET)
    code, _, err = run(
        "subscriptions", "add", "--from-file", str(path), "--id", "inferno-1", "--secret-file", str(secret_file)
    )
    assert code == 0, err
    subs = json.loads(run("subscriptions", "list", "--json")[1])
    assert (subs[0]["id"], subs[0]["content"]) == ("inferno-1", "id-only")


def test_a_secret_on_the_command_line_still_works_with_a_warning(env: str) -> None:
    code, out, err = run("subscriptions", "add", "--id", "s-cli", "--secret", STRONG_SECRET)
    assert (code, out.strip()) == (0, "added subscription s-cli")
    assert "warning: --secret on the command line is visible" in err
    code, _, err = run("subscriptions", "add", "--id", "s-weak", "--secret", "aaaaaaaaaaaaaaaaaaaaaaaa")
    assert code == 2
    assert "fewer than 8 distinct characters" in err
    assert "aaaa" not in err  # the secret itself is never echoed


def test_dlq_list_and_replay_errors(env: str) -> None:
    assert run("dlq", "list", "--json")[:2] == (0, "[]\n")
    code, _, err = run("dlq", "replay", "42")
    assert code == 2
    assert err.strip() == "claimbridge: error: no dead letter 42"
    code, _, err = run("dlq", "replay")
    assert code == 2
    assert "give a dead-letter ID or --all" in err
    assert run("dlq", "replay", "--all")[:2] == (0, "replayed 0 dead letter(s)\n")


def test_worker_settles_the_heap_after_start_up(env: str) -> None:
    """``worker`` (like ``serve``) freezes what start-up built and raises the young-GC threshold."""
    before = gc.get_threshold()
    try:
        assert run("worker", "--drain")[:2] == (0, "processed 0 job(s)\n")
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["dlq", "replay", "abc"], "claimbridge dlq replay: Invalid value for 'job_id'"),
        (["no-such-command"], "claimbridge: No such command 'no-such-command'"),
        (["claims", "list", "--no-such-option"], "claimbridge claims list: No such option: --no-such-option"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    """The installed command (not the test runner's wrapper) turns typer's usage box into one line."""
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=60,
                          check=False, cwd=ROOT)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(needle), done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"resourceType": "Patient", "id": "p"}', "not a FHIR Bundle"),
        (b'{"resourceType": "Bundle", "type": "message", "entry": []}', "is not collection"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', "no Encounter"),
        (
            orjson.dumps(
                {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [{"resource": {"resourceType": "Patient", "id": "p", "birthDate": "yesterday"}}],
                }
            ),
            "Patient/p",
        ),
    ],
)
def test_check_refuses_bad_input_with_one_line_and_exit_2(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(content)
    code, out, err = run("check", str(path), "--json")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert needle in err


def test_check_json_has_claims_findings_alerts_and_encounters(tmp_path: Path) -> None:
    code, out, err = run(
        "check", str(ROOT / "examples" / "bundles" / "encounter-001.json"), "--json", "--as-of", "2026-11-20"
    )
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"claims", "findings", "alerts", "encounters"}
    assert len(report["claims"]) == 1
    billed = [e for e in report["encounters"] if e["claim"]]
    assert [(e["encounter"], e["outcome"], e["claim"]) for e in billed] == [
        ("Encounter/enc-001", "claim", report["claims"][0]["id"])
    ]
    assert {e["outcome"] for e in report["encounters"] if not e["claim"]} <= {"history"}
    for finding in report["findings"]:
        assert {"rule", "category", "severity", "message", "location", "source", "fix"} <= finding.keys()
    assert run("check", str(tmp_path / "missing.json"))[0] == 2


def test_config_check_names_file_and_line(tmp_path: Path) -> None:
    assert run("config", "check")[0] == 0
    bad = tmp_path / "config"
    subprocess.run(["cp", "-r", str(ROOT / "config"), str(bad)], check=True)
    payer = next((bad / "payers").glob("*.yaml"))
    payer.write_text(payer.read_text() + "\nnot_a_key: 1\n")
    code, _, err = run("config", "check", "--config", str(bad))
    assert code == 2
    assert f"{payer}:" in err
    assert "not_a_key" in err


def test_serve_listens_and_becomes_ready(tmp_path: Path) -> None:
    """A bounded wait on /readyz (60 s: a loaded CI machine); how fast it starts is bench/restart.py's."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMBRIDGE_")}
    env.update(
        CLAIMBRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        CLAIMBRIDGE_LOG_LEVEL="WARNING",
        CLAIMBRIDGE_SETTINGS_FILE=str(ROOT / "tests" / "fixtures" / "settings-test.yaml"),
        CLAIMBRIDGE_REFDATA_DIR=str(tmp_path / "refdata"),
    )
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log
        )
    try:
        started, ready = time.monotonic(), False
        while time.monotonic() - started < 60 and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                ready = False
            if ready:
                break
            time.sleep(0.1)
        assert ready, (tmp_path / "serve.log").read_text()[-2000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # never leave it running for the next test to trip over
            proc.kill()
            proc.wait(timeout=20)


def test_demo_runs_the_main_job_on_the_embedded_default_and_exits_when_done(tmp_path: Path) -> None:
    """What `make demo` runs: the sample EHR data through the real endpoint to a valid 837P batch."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMBRIDGE_")}
    env.update(
        CLAIMBRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}",
        CLAIMBRIDGE_ADAPTERS__OUT_DIR=str(tmp_path / "out"),
        CLAIMBRIDGE_SETTINGS_FILE=str(ROOT / "tests" / "fixtures" / "settings-test.yaml"),
        CLAIMBRIDGE_REFDATA_DIR=str(tmp_path / "refdata"),
        CLAIMBRIDGE_LOG_LEVEL="DEBUG",  # every log line, grepped for PHI below
    )
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--exit-when-done", "--port", str(port)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    assert "job.done" in done.stderr  # the demo's logs, at DEBUG: no patient name, birth date or member id
    assert phi_hits(done.stderr) == []
    manifest = json.loads((ROOT / "examples" / "manifest.json").read_text())
    assert f"{len(manifest)} claims:" in done.stdout and "dead letters: 0" in done.stdout
    summary = " ".join(done.stdout.split())  # rich wraps long lines
    outcomes = f"{{'claim': {len(manifest) - 2}, 'no-coverage': 1, 'not-finished': 1}}"
    assert f"{len(manifest)} encounters: {outcomes}; 0 without a claim" in summary
    batches = sorted((tmp_path / "out").rglob("*.837"))
    assert len(batches) == 1, done.stdout[-2000:]
    text = batches[0].read_text()
    assert_valid_837p(text)
    assert len(clm01s(text)) > len(manifest) // 2  # most sample visits are clean and go out
