"""Fixtures for the EHR connectivity tests: signing keys, a fake clock, recorded sleeps.

The repository root goes on ``sys.path`` so the test EHR imports as ``tests.ehr`` (the test tree
has no top-level package ``__init__``; ``tests/fhir`` has none either, to keep clear of the
installed ``fhir`` namespace package).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pytest  # noqa: E402

from app.fhir.keys import SigningKey, generate_signing_key  # noqa: E402
from tests.ehr.factories import FakeClock  # noqa: E402


@pytest.fixture(scope="session")
def rs384_key() -> SigningKey:
    return generate_signing_key("RS384")


@pytest.fixture(scope="session")
def es384_key() -> SigningKey:
    return generate_signing_key("ES384")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class SleepRecorder:
    """An injectable ``sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()
