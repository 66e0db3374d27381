"""The package the Dockerfile and the Makefile install carries what the service needs at run time."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_migrations_and_type_marker(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("claimbridge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "app/db/migrations/env.py" in names
    assert "app/db/migrations/script.py.mako" in names
    assert any(re.fullmatch(r"app/db/migrations/versions/\w+\.py", n) for n in names)
    assert "app/py.typed" in names
    assert {
        "app/web/static/htmx.min.js",
        "app/web/templates/base.html",
        "app/web/templates/smart/encounter.html",
    } <= names
    assert {"app/fhir/fhir.schema.json.gz", "app/fhir/r4-required-elements.json", "app/fhir/SOURCES.md"} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "claimbridge = app.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_dockerfile_installs_like_the_makefile_and_runs_unprivileged() -> None:
    docker = (ROOT / "Dockerfile").read_text()
    make = (ROOT / "Makefile").read_text()
    assert len(re.findall(r"^FROM ", docker, re.M)) == 2  # multi-stage
    assert "python -m venv" in docker and "$(PYTHON) -m venv" in make
    assert re.search(r"pip install --quiet \.$", docker, re.M)
    assert "pip install --quiet -e '.[dev]'" in make
    assert re.search(r"^USER claimbridge$", docker, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*?/healthz", docker, re.M)
    assert 'CMD ["claimbridge", "serve"]' in docker
