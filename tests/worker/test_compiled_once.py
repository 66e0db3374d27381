"""FHIRPath expressions are compiled once, at configuration load: processing jobs compiles none."""

from __future__ import annotations

from pathlib import Path

import fhirpathpy
import pytest

from tests.spine.helpers import clone_bundle, make_services, register, sample_bundles
from tests.worker.test_batch_commit import jobs, store


def test_processing_jobs_compiles_no_fhirpath(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = make_services(f"sqlite:///{tmp_path / 'cb.db'}", tmp_path)  # the configuration is compiled here
    try:
        register(svc, sub_id="claimbridge-demo")
        calls: list[str] = []
        for name in ("compile", "evaluate"):
            real = getattr(fhirpathpy, name)
            monkeypatch.setattr(
                fhirpathpy, name, lambda *a, _real=real, _n=name, **k: calls.append(_n) or _real(*a, **k)
            )
        store(svc, [clone_bundle(b, f"fp{n}") for n, b in enumerate(sample_bundles(4))])
        svc.worker(worker_id="w").drain()
        assert {s for _, s, _, _ in jobs(svc)} == {"done"}
        assert calls == []
    finally:
        svc.close()
