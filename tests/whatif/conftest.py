"""Fixtures for what-if tests: claims stored by the real pipeline, a copy of the shipped config."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.db import claims_repo
from app.services import Services
from tests.spine.helpers import ROOT, SECRET, make_services, notification, register, sample_bundles

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
BUNDLES = 16  # enough for a code on some claims and not on others


@dataclass
class Stored:
    services: Services
    db_url: str
    claims: list[dict]  # claims_repo.list_claims views after the worker drained


@pytest.fixture
def stored(db_url: str, tmp_path: Path) -> Iterator[Stored]:
    """Sample notifications posted to the real endpoint and processed by the worker."""
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    with TestClient(create_app(services)) as client:
        for number, bundle in enumerate(sample_bundles(BUNDLES), start=1):
            response = client.post("/notifications", content=orjson.dumps(notification(bundle, number)), headers=AUTH)
            assert response.status_code == 202
    services.worker(worker_id="w").drain()
    with services.engine.connect() as conn:
        claims = claims_repo.list_claims(conn)
    assert len(claims) == BUNDLES
    yield Stored(services, db_url, claims)
    services.close()


@pytest.fixture
def candidate(tmp_path: Path) -> Path:
    """A writable copy of the shipped configuration directory."""
    target = tmp_path / "candidate"
    shutil.copytree(ROOT / "config", target)
    return target
