"""A plain-http EHR base URL is refused outside development: by the gateway and by `ehrs add`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.db import ehr_repo, migrate
from app.db.ehr_repo import EhrRecord
from app.db.engine import make_engine
from app.db.sql import utcnow
from app.ehr.gateway import EhrGateway, InsecureEhr
from app.settings import EhrSettings
from app.ssrf import OutboundPolicy


def test_the_gateway_refuses_a_plain_http_ehr_when_http_is_not_allowed(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        ehr_repo.add_ehr(conn, EhrRecord("plain", "http://ehr.example/fhir", "none"), now=utcnow())
        ehr_repo.add_ehr(conn, EhrRecord("tls", "https://ehr.example/fhir", "none"), now=utcnow())
    strict = EhrGateway(engine=engine, settings=EhrSettings(), outbound=OutboundPolicy(allow_http=False))
    with pytest.raises(InsecureEhr, match="plain http"):
        strict.connection("plain")
    assert strict.connection("tls").record.name == "tls"
    strict.close()
    relaxed = EhrGateway(engine=engine, settings=EhrSettings(), outbound=OutboundPolicy(allow_http=True))
    assert relaxed.connection("plain").record.name == "plain"  # development, tests
    relaxed.close()
    engine.dispose()


def test_ehrs_add_refuses_plain_http_and_metadata_hosts_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'e.db'}")
    monkeypatch.setenv("CLAIMBRIDGE_ENV", "production")
    monkeypatch.setenv("CLAIMBRIDGE_API__ADMIN_TOKEN", "k3J9-real-token-from-the-vault")
    monkeypatch.setenv("CLAIMBRIDGE_SECURITY__SECRET_KEY", "a-32-character-key-from-the-vault-0")
    runner = CliRunner()
    for url, why in (("http://ehr.example/fhir", "plain http"), ("https://169.254.169.254/fhir", "metadata")):
        result = runner.invoke(app, ["ehrs", "add", "--name", "e", "--base-url", url, "--no-discover"])
        assert result.exit_code == 2 and why in result.stderr, result.stderr
