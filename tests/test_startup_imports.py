"""Start-up imports stay lean (issue 17 item 5: the service resumes quickly after a restart).

Process start-up after ``kill -9`` is mostly import time, so the heavy libraries that the long-running
commands never need stay out of their import path: a fresh interpreter imports what ``claimbridge
worker`` / ``claimbridge serve`` import and lists what landed in ``sys.modules``. Not timed (timing
is the benchmark's job, ``bench/restart.py``); it fails when an eager import comes back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Never on the start-up path of any command: models (hot path is plain data; ADR 0008), the test-only
# X12 validator, the browser driver, the 200 MB ICD-10 package (a cached table is read instead), the
# pure-Python JSON Schema library (jsonschema-rs is the validator), x12sdk (its import reads .env).
NEVER = ["fhir.resources", "pyx12", "playwright", "simple_icd_10_cm", "jsonschema", "x12sdk", "respx"]
# Only when configured (relay.nats_url) or when the HTTP API is actually built.
WORKER_NEVER = [*NEVER, "nats", "fastapi", "starlette", "uvicorn", "jinja2", "argon2"]


@pytest.fixture(scope="module")
def imported() -> dict[str, set[str]]:
    """One fresh interpreter: ``sys.modules`` after what ``claimbridge worker`` imports before it builds
    its services (the CLI and the composition root), then after adding the API (``claimbridge serve``)."""
    code = (
        "import json, sys\n"
        "import app.cli.main, app.services\n"
        "worker = sorted(sys.modules)\n"
        "import app.api.app\n"
        "print(json.dumps({'worker': worker, 'serve': sorted(sys.modules)}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return {k: set(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def present(modules: set[str], names: list[str]) -> list[str]:
    return [n for n in names if n in modules or any(m.startswith(f"{n}.") for m in modules)]


def test_cli_and_worker_path_do_not_import_heavy_or_unneeded_libraries(imported: dict[str, set[str]]) -> None:
    assert present(imported["worker"], WORKER_NEVER) == []


def test_serve_path_does_not_import_heavy_libraries(imported: dict[str, set[str]]) -> None:
    assert "fastapi" in imported["serve"]  # the probe works: the API's own framework is there
    assert present(imported["serve"], [*NEVER, "nats"]) == []
