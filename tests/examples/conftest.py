"""Fixtures for the sample-data tests: the committed files, and fresh generator runs in a tmp dir."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class Dataset:
    """One generated sample set: bundles by file name (``bundles/encounter-NNN.json``) and the manifest."""

    folder: Path
    bundles: dict[str, dict[str, Any]]
    manifest: list[dict[str, Any]]
    everything: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> Dataset:
        bundles = {
            f"bundles/{p.name}": json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((folder / "bundles").glob("*.json"))
        }
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        everything = json.loads((folder / "all-encounters.json").read_text(encoding="utf-8"))
        return cls(folder, bundles, manifest, everything)


def run_generator(out: Path, *, seed: int | None = None) -> None:
    cmd = [sys.executable, str(EXAMPLES / "generate.py"), "--out", str(out)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator's output for the default seed, written to a tmp dir."""
    out = tmp_path_factory.mktemp("regenerated")
    run_generator(out)
    return out


@pytest.fixture(scope="session")
def committed() -> Dataset:
    return Dataset.load(EXAMPLES)


@pytest.fixture(scope="session")
def reseeded(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """Another seed: the scenario guarantees must hold for any seed, not only the committed one."""
    out = tmp_path_factory.mktemp("seed-7")
    run_generator(out, seed=7)
    return Dataset.load(out)


@pytest.fixture(params=["committed", "reseeded"])
def dataset(request: pytest.FixtureRequest) -> Dataset:
    return request.getfixturevalue(request.param)
