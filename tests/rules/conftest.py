"""Rule-test fixtures: the SYNTHETIC reference tables with a session-private ICD-10-CM cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.refdata import RefData, load_refdata
from tests.rules.factories import CONFIG


@pytest.fixture(scope="session")
def icd_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("icd-cache")


@pytest.fixture(scope="session")
def refdata(icd_cache: Path) -> RefData:
    return load_refdata([CONFIG / "refdata"], cache_dir=icd_cache)
