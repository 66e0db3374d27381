"""``claimbridge cds call`` (offline) and ``claimbridge cds-clients add``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.db import cds_repo
from app.db.engine import make_engine
from tests.cds.hooks import CONFORMANCE, CdsClientKeys, coverage_informations, service_request, with_coverage

ROOT = Path(__file__).resolve().parents[2]


def test_cds_call_prints_the_response_and_defaults_the_service_from_the_hook(tmp_path: Path) -> None:
    request = tmp_path / "req.json"
    request.write_text(json.dumps(with_coverage([service_request("sr1", "72148")])))
    result = CliRunner().invoke(app, ["cds", "call", str(request), "--config", str(ROOT / "config")])
    assert result.exit_code == 0, result.output
    assert coverage_informations(json.loads(result.stdout))["ServiceRequest/sr1"]["pa-needed"] == ["auth-needed"]
    fixture = CONFORMANCE / "davinci-crd" / "CRDServiceRequest.json"
    result = CliRunner().invoke(app, ["cds", "call", str(fixture), "--service", "order-sign-crd"])
    assert result.exit_code == 0 and "systemActions" in json.loads(result.stdout)


@pytest.mark.parametrize(
    ("content", "args", "says"),
    [
        ("{not json", [], "not a JSON file"),
        ('{"hook": "patient-view"}', [], "no CDS service for hook"),
        (json.dumps(with_coverage([service_request("sr1", "72148")])), ["--service", "order-select-crd"], "not served"),
        ('{"hook": "order-sign", "hookInstance": "x", "context": {}}', [], "context.patientId is required"),
    ],
)
def test_cds_call_refuses_unusable_input_with_one_line_and_exit_2(
    tmp_path: Path, content: str, args: list[str], says: str
) -> None:
    request = tmp_path / "req.json"
    request.write_text(content)
    result = CliRunner().invoke(app, ["cds", "call", str(request), *args])
    assert result.exit_code == 2
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cds_clients_add_registers_a_jwks_file_and_refuses_private_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path}/cb.db"
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", db)
    keys = CdsClientKeys()
    public = tmp_path / "jwks.json"
    public.write_text(json.dumps(keys.jwks()))
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [dict(keys.key.as_dict(private=True), kid="k")]}))
    runner = CliRunner()
    result = runner.invoke(app, ["cds-clients", "add", "--iss", keys.iss, "--jwks", str(public)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["cds-clients", "add", "--iss", "x", "--jwks", str(private)]).exit_code == 2
    assert runner.invoke(app, ["cds-clients", "add", "--iss", "x"]).exit_code == 2
    engine = make_engine(db)
    with engine.connect() as conn:
        assert cds_repo.get_client(conn, keys.iss).jwks == keys.jwks()  # type: ignore[union-attr]
    engine.dispose()
