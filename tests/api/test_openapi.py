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


def _integer_schemas(schema: dict[str, object]) -> list[dict[str, object]]:
    if schema.get("type") == "integer":
        return [schema]
    options = schema.get("anyOf") or schema.get("oneOf") or []
    return [s for option in options if isinstance(option, dict) for s in _integer_schemas(option)]


def test_every_integer_parameter_is_bounded_to_a_database_integer(tmp_path: Path) -> None:
    """An unbounded integer parameter reaches the database as an overflowing BIGINT (a 500 the fuzzer found)."""
    services = make_services(f"sqlite:///{tmp_path / 'api.db'}", tmp_path)
    with TestClient(create_app(services)) as client:
        spec = client.get("/openapi.json").json()
    services.close()
    unbounded = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                for schema in _integer_schemas(parameter.get("schema", {})):
                    if not isinstance(schema.get("maximum"), int) or schema["maximum"] > 2**63 - 1:
                        unbounded.append((method, path, parameter["name"]))
    assert unbounded == []
