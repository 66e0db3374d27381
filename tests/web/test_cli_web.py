"""``claimbridge users add`` and ``claimbridge ehrs add --smart-*``: on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli.main import app
from app.db import audit_repo, web_repo
from app.db.engine import make_engine, read_only
from app.fhir.keys import generate_keys
from app.web.sessions import check_password

runner = CliRunner()
BASE = "https://ehr.example/fhir"


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", db_url)
    monkeypatch.setenv("CLAIMBRIDGE_REFDATA_DIR", str(tmp_path / "refdata"))
    monkeypatch.setenv("USER", "ops.person")
    return db_url


def test_users_add_reads_the_password_from_stdin(env: str) -> None:
    short = runner.invoke(app, ["users", "add", "--name", "ann", "--role", "engineer"], input="short\n")
    assert short.exit_code == 2 and "at least 12" in short.output
    qualified = runner.invoke(app, ["users", "add", "--name", "oidc:idp:ann"], input="a long passphrase\n")
    assert qualified.exit_code == 2 and "':'" in qualified.output  # the OIDC users' name space
    bad_role = runner.invoke(app, ["users", "add", "--name", "ann", "--role", "root"], input="x" * 20 + "\n")
    assert bad_role.exit_code == 2 and "--role" in bad_role.output
    added = runner.invoke(app, ["users", "add", "--name", "ann", "--role", "engineer"], input="a long passphrase\n")
    assert added.exit_code == 0, added.output
    assert "added console user ann (engineer)" in added.output and "passphrase" not in added.output
    engine = make_engine(env)
    with read_only(engine) as conn:
        user = web_repo.get_user(conn, "ann")
        events = audit_repo.list_events(conn, action="config-change")
    engine.dispose()
    assert user is not None and user.role == "engineer" and check_password(user.password_hash, "a long passphrase")
    assert not check_password(user.password_hash, "a wrong passphrase")
    assert [(e["actor"], e["entity"]) for e in events] == [("ops.person", "console-user/ann")]


def test_ehrs_add_registers_the_smart_app(env: str, tmp_path: Path) -> None:
    base = ["ehrs", "add", "--name", "ehr1", "--base-url", BASE, "--no-discover"]
    secret = runner.invoke(app, [*base, "--smart-client-id", "app-2", "--smart-client-secret", "-"], input="s3cret\n")
    assert secret.exit_code == 0 and "(confidential)" in secret.output and "s3cret" not in secret.output
    engine = make_engine(env)
    with read_only(engine) as conn:
        column = conn.execute(text("SELECT client_secret FROM smart_app WHERE ehr = 'ehr1'")).scalar_one()
        assert web_repo.get_smart_app(conn, "ehr1").client_secret == "s3cret"  # type: ignore[union-attr]
    engine.dispose()
    assert column.startswith("fernet:") and "s3cret" not in column  # encrypted at rest
    long = [*base, "--smart-client-id", "app-2", "--smart-client-secret", "-"]
    assert runner.invoke(app, long, input="x" * 501 + "\n").exit_code == 2
    private, _ = generate_keys(tmp_path / "keys", "ES384")
    both = runner.invoke(
        app, [*base, "--smart-client-id", "x", "--smart-client-secret", "a", "--smart-key", str(private)]
    )
    assert both.exit_code == 2
    no_openid = runner.invoke(app, [*base, "--smart-client-id", "x", "--smart-scopes", "launch patient/*.rs"])
    assert no_openid.exit_code == 2 and "openid" in no_openid.output
    orphan = runner.invoke(app, [*base, "--smart-key", str(private)])
    assert orphan.exit_code == 2
    keyed = runner.invoke(app, [*base, "--smart-client-id", "app-3", "--smart-key", str(private)])
    assert keyed.exit_code == 0 and "(private_key_jwt)" in keyed.output
    engine = make_engine(env)
    with read_only(engine) as conn:
        registered = web_repo.get_smart_app(conn, "ehr1")
    engine.dispose()
    assert registered is not None and registered.client_id == "app-3" and registered.auth_method == "private_key_jwt"
    assert registered.scopes == "launch openid fhirUser patient/*.rs user/Encounter.rs"


def test_subscriptions_add_and_cds_clients_add_are_audited_without_their_secrets(env: str, tmp_path: Path) -> None:
    secret = "a-subscription-secret-0123456789"
    added = runner.invoke(app, ["subscriptions", "add", "--id", "sub-a", "--secret-file", "-"], input=secret + "\n")
    assert added.exit_code == 0, added.output
    refused = runner.invoke(app, ["subscriptions", "add", "--id", "sub-b", "--secret-file", "-"], input="short\n")
    assert refused.exit_code == 2  # nothing stored, nothing audited
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-384").as_dict(private=False)]}))
    client = runner.invoke(app, ["cds-clients", "add", "--iss", "https://cds.example", "--jwks", str(jwks)])
    assert client.exit_code == 0, client.output
    engine = make_engine(env)
    with read_only(engine) as conn:
        events = audit_repo.list_events(conn, action="config-change")
    engine.dispose()
    assert [(e["actor"], e["actor_kind"], e["entity"]) for e in events] == [
        ("ops.person", "cli", "subscription/sub-a"),
        ("ops.person", "cli", "cds-client/https://cds.example"),
    ]
    assert events[0]["detail"] == {"created": True, "ehr": None, "content": None, "signed": False}
    assert secret not in str(events)
