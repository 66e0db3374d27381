"""Defaults that keep a reachable server closed: the image is production, development gets a random token."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from app.cli.main import development_admin_token
from app.settings import Settings
from tests.spine.helpers import ROOT


def dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    block = re.search(r"^ENV (.+?)(?<!\\)\n", text, re.M | re.S)
    assert block is not None
    pairs = re.findall(r"(\w+)=(\S+)", block.group(1).replace("\\\n", " "))
    return dict(pairs)


def test_the_image_defaults_to_production_and_refuses_to_start_without_real_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = dockerfile_env()
    assert env["CLAIMBRIDGE_ENV"] == "production"
    assert env["CLAIMBRIDGE_API__HOST"] == "0.0.0.0"
    for name, value in env.items():
        if name.startswith("CLAIMBRIDGE_"):
            monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="placeholder"):  # no admin token given: dev-admin-token
        Settings()
    monkeypatch.setenv("CLAIMBRIDGE_API__ADMIN_TOKEN", "k3J9-real-token-from-the-vault")
    with pytest.raises(ValidationError, match="secret_key"):
        Settings()
    monkeypatch.setenv("CLAIMBRIDGE_SECURITY__SECRET_KEY", "a-32-character-key-from-the-vault-0")
    assert Settings().env == "production"


def test_development_serve_replaces_the_placeholder_with_a_random_token_printed_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(env="development")
    first = development_admin_token(settings)["api"]["admin_token"]
    second = development_admin_token(settings)["api"]["admin_token"]
    assert first != second and len(first) >= 40
    err = capsys.readouterr().err
    assert err.count("printed once") == 2 and first in err and "dev-admin-token" not in err
    assert Settings(env="development", api={"admin_token": first}).api.admin_token.get_secret_value() == first
    chosen = Settings(env="development", api={"admin_token": "an-operator-chosen-token-0123"})
    assert development_admin_token(chosen) == {}  # a real token is kept
