"""Settings: environment over YAML over defaults, nested sections, no placeholder secrets in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_environment_overrides_the_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yaml_file = tmp_path / "settings.yaml"
    yaml_file.write_text("worker:\n  max_attempts: 9\n  lease_seconds: 12\napi:\n  port: 8100\n")
    monkeypatch.setenv("CLAIMBRIDGE_SETTINGS_FILE", str(yaml_file))
    monkeypatch.setenv("CLAIMBRIDGE_WORKER__MAX_ATTEMPTS", "3")
    monkeypatch.setenv("CLAIMBRIDGE_DATABASE_URL", "postgresql://db.internal/claims")
    settings = Settings()
    assert settings.worker.max_attempts == 3
    assert settings.worker.lease_seconds == 12
    assert settings.api.port == 8100
    assert settings.database_url == "postgresql://db.internal/claims"


def test_unknown_keys_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yaml_file = tmp_path / "settings.yaml"
    yaml_file.write_text("worker:\n  max_atempts: 9\n")
    monkeypatch.setenv("CLAIMBRIDGE_SETTINGS_FILE", str(yaml_file))
    with pytest.raises(ValidationError, match="max_atempts"):
        Settings()


@pytest.mark.parametrize("token", ["dev-admin-token", "change-me", "", "  secret "])
def test_production_refuses_placeholder_admin_tokens(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("CLAIMBRIDGE_ENV", "production")
    monkeypatch.setenv("CLAIMBRIDGE_API__ADMIN_TOKEN", token)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_production_accepts_a_real_token_and_hides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMBRIDGE_ENV", "production")
    monkeypatch.setenv("CLAIMBRIDGE_API__ADMIN_TOKEN", "k3J9-real-token-from-the-vault")
    monkeypatch.setenv("CLAIMBRIDGE_SECURITY__SECRET_KEY", "a-32-character-key-from-the-vault-0")
    settings = Settings()
    assert settings.api.admin_token.get_secret_value() == "k3J9-real-token-from-the-vault"
    assert "k3J9" not in repr(settings)


def test_production_refuses_the_development_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMBRIDGE_ENV", "production")
    monkeypatch.setenv("CLAIMBRIDGE_API__ADMIN_TOKEN", "k3J9-real-token-from-the-vault")
    with pytest.raises(ValidationError, match="secret_key"):
        Settings()
    monkeypatch.setenv("CLAIMBRIDGE_SECURITY__SECRET_KEY", "too-short")
    with pytest.raises(ValidationError, match="secret_key"):
        Settings()
