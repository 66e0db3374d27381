"""``claimbridge ehrs|keys|subscriptions`` commands that need no running EHR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.fhir.keys import load_signing_key

runner = CliRunner()


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", db_url)
    monkeypatch.setenv("CLAIMBRIDGE_ADAPTERS__OUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("CLAIMBRIDGE_REFDATA_DIR", str(tmp_path / "refdata"))
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_keys_generate_writes_a_private_key_and_a_public_jwks(tmp_path: Path) -> None:
    code, out, _ = run("keys", "generate", "--alg", "RS384", "--out", str(tmp_path / "k"))
    assert code == 0
    private = tmp_path / "k" / "private-key-rs384.pem"
    jwks = json.loads((tmp_path / "k" / "jwks-rs384.json").read_text())
    assert private.stat().st_mode & 0o777 == 0o600
    key = load_signing_key(private)
    assert jwks["keys"][0]["kid"] == key.kid and "d" not in jwks["keys"][0] and f"kid: {key.kid}" in out
    assert run("keys", "generate", "--alg", "HS256", "--out", str(tmp_path / "x"))[0] == 2


def test_ehrs_add_list_and_subscriptions_tied_to_them(env: Path) -> None:
    run("keys", "generate", "--out", str(env / "k"))
    key = env / "k" / "private-key-es384.pem"
    code, out, _ = run(
        "ehrs",
        "add",
        "--name",
        "epic",
        "--base-url",
        "https://ehr.example/fhir/",
        "--auth",
        "smart-backend",
        "--client-id",
        "cb",
        "--key",
        str(key),
        "--no-discover",
        "--topic",
        "Encounter=https://ehr.example/topics/encounter-finished",
    )
    assert (code, out.splitlines()) == (
        0,
        [
            "added EHR epic: no $events (recovery by search), 1 topic(s)",
            "  Encounter: https://ehr.example/topics/encounter-finished",
        ],
    )
    code, out, _ = run("ehrs", "list", "--json")
    (ehr,) = json.loads(out)
    assert (ehr["base_url"], ehr["auth"], ehr["key_path"]) == ("https://ehr.example/fhir", "smart-backend", str(key))
    assert ehr["topics"] == {"Encounter": "https://ehr.example/topics/encounter-finished"}

    code, _, err = run("subscriptions", "add", "--id", "s1", "--secret", "a-secret-of-enough-length", "--ehr", "nope")
    assert code == 2 and "'nope' is not registered" in err
    code, _, _ = run("subscriptions", "add", "--id", "s1", "--secret", "a-secret-of-enough-length", "--ehr", "epic")
    assert code == 0
    code, out, _ = run("subscriptions", "list", "--json")
    (sub,) = json.loads(out)
    assert (sub["ehr"], sub["health"], sub["open_gaps"], sub["degraded"]) == ("epic", "ok", 0, False)

    # ids are unique per EHR: another EHR naming its subscription "s1" gets its own row, A's is untouched
    assert run("ehrs", "add", "--name", "cerner", "--base-url", "https://other.example/fhir", "--no-discover")[0] == 0
    code, out, _ = run(
        "subscriptions", "add", "--id", "s1", "--secret", "another-secret-of-enough-len", "--ehr", "cerner"
    )
    assert (code, out.strip()) == (0, "added subscription s1")
    code, _, err = run("subscriptions", "add", "--id", "s2", "--secret", "another-secret-of-enough-len")
    assert code == 2 and "already used by another subscription" in err and err.count("error:") == 1
    code, out, _ = run(
        "subscriptions", "add", "--id", "s1", "--secret", "a-rotated-secret-of-enough-len", "--ehr", "epic"
    )
    assert (code, out.strip()) == (0, "updated subscription s1")  # the same EHR may rotate its secret
    code, out, _ = run("subscriptions", "list", "--json")
    assert [(s["id"], s["ehr"]) for s in json.loads(out)] == [("s1", "cerner"), ("s1", "epic")]
    assert "s1@cerner" not in out  # the internal key of cerner's s1 stays internal


def test_ehrs_add_refuses_incomplete_smart_settings(env: Path) -> None:
    code, _, err = run("ehrs", "add", "--name", "x", "--base-url", "https://e/fhir", "--auth", "smart-backend")
    assert code == 2 and "--client-id and --key" in err
    code, _, err = run("ehrs", "add", "--name", "x", "--base-url", "ftp://e", "--no-discover")
    assert code == 2 and "http(s)" in err
