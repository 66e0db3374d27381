"""Fixtures for mapper tests: the shipped mapping config, a mapping runner, a frozen 'created'."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.config.chargemaster import load_chargemaster
from app.config.mappings import load_mappings
from app.domain.chargemaster import ChargeMaster
from app.domain.context import EncounterContext
from app.fhir.r4 import validate_resource
from app.mappers import MappedClaim, MappingSet, map_encounter

CONFIG = Path(__file__).resolve().parents[2] / "config"
# A non-UTC zone on purpose: dates must not shift.
CREATED = datetime(2024, 11, 21, 23, 30, tzinfo=timezone(timedelta(hours=-5)))


@pytest.fixture(scope="session")
def mappings() -> MappingSet:
    return load_mappings(CONFIG)


@pytest.fixture(scope="session")
def chargemaster() -> ChargeMaster:
    return load_chargemaster(CONFIG)


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped config directory (mappings + charge master)."""
    shutil.copytree(CONFIG / "mappings", tmp_path / "mappings")
    shutil.copy(CONFIG / "chargemaster.yaml", tmp_path / "chargemaster.yaml")
    return tmp_path


@pytest.fixture
def run(mappings: MappingSet, chargemaster: ChargeMaster) -> Callable[[EncounterContext], MappedClaim]:
    """Map a context; every produced Claim must be valid R4."""

    def _run(ctx: EncounterContext) -> MappedClaim:
        result = map_encounter(ctx, mappings=mappings, chargemaster=chargemaster, created=CREATED)
        assert result is not None
        validate_resource(result.claim)
        return result

    return _run
