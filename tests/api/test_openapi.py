"""The API description renders (warnings are errors here) with one operation id per operation."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.api.app import create_app
from tests.spine.helpers import make_services


def test_openapi_renders_with_unique_operation_ids(tmp_path: Path) -> None:
    services = make_services(f"sqlite:///{tmp_path / 'api.db'}", tmp_path)
    with TestClient(create_app(services)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    ids = [op["operationId"] for methods in spec["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    rest_hook = spec["paths"]["/notifications/{resource_type}/{resource_id}"]
    assert set(rest_hook) == {"post", "put", "delete"}
    assert {"/api/denials/{item_id}", "/api/underpayments/{item_id}"} <= set(spec["paths"])
    services.close()
