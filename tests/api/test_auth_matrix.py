"""Every route authenticates: each operation of the OpenAPI and each mounted route of the app gets 401
without a credential, except the visible list :data:`app.api.security.PUBLIC_PATHS`. Admin tokens
carry scopes (``claims:read``, ``claims:write``, ``admin``) and the routes enforce them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from app.api.app import create_app
from app.api.security import PUBLIC_PATHS, is_public, required_scope
from app.services import Services, build_services
from app.settings import Settings
from tests.spine.helpers import ROOT, make_services

READER = "reader-token-0123456789abcdef"
WRITER = "writer-token-0123456789abcdef"
TOKENS = [
    {"name": "reader", "token": READER, "scopes": ["claims:read"]},
    {"name": "writer", "token": WRITER, "scopes": ["claims:write"]},
]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    tmp = tmp_path_factory.mktemp("auth")
    svc = make_services(f"sqlite:///{tmp / 'auth.db'}", tmp, security={"admin_tokens": TOKENS})
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as c:
        yield c


#: Pages people open in a browser answer 401 with an HTML page (app.web), everything else an OperationOutcome.
HTML_PAGES = ("/console", "/smart")


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def app_operations(client: TestClient) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route mounted on the app, API routes and plain ones alike."""
    out: set[tuple[str, str]] = set()
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if isinstance(route, Mount):
            out.add(("GET", str(context.path).rstrip("/") + "/"))
        elif isinstance(route, Route):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", str(context.path))  # {id:path} as OpenAPI names it
            out.update((m, path) for m in (context.methods or ()) if m != "HEAD")
    return out


def test_every_route_and_operation_answers_401_without_a_credential(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    mounted = app_operations(client)
    assert documented <= mounted  # the description names nothing that is not served
    assert len(mounted) >= 30  # the enumeration really saw the app
    checked, open_ones = [], []
    for method, path in sorted(mounted):
        if is_public(path):
            open_ones.append(path)
            continue
        response = client.request(method, concrete(path), json={} if method in ("POST", "PUT") else None)
        assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
        if path.startswith(HTML_PAGES):  # the console and the SMART app: a 401 page linking to sign-in
            assert response.headers["content-type"].startswith("text/html"), (method, path)
        else:
            assert response.json()["resourceType"] == "OperationOutcome", (method, path)
        checked.append((method, path))
    assert {"/healthz", "/readyz", "/.well-known/jwks.json"} <= set(open_ones)
    assert ("POST", "/notifications") in checked and ("GET", "/metrics") in checked
    # the exceptions are few and visible; nothing under /api or /notifications is among them
    assert len(PUBLIC_PATHS) < 15
    assert not [p for p in open_ones if p.startswith(("/api", "/notifications", "/metrics"))]


def test_a_wrong_token_is_401_and_a_placeholder_never_authenticates(tmp_path: Path) -> None:
    settings = Settings(
        env="development",
        database_url=f"sqlite:///{tmp_path / 'p.db'}",
        config_dir=ROOT / "config",
        refdata_dir=tmp_path / "refdata",
        adapters={"out_dir": str(tmp_path / "out")},
    )
    assert settings.api.admin_token.get_secret_value() == "dev-admin-token"  # the default
    svc = build_services(settings)
    with TestClient(create_app(svc)) as c:
        assert c.get("/api/claims", headers={"Authorization": "Bearer dev-admin-token"}).status_code == 401
        assert c.get("/api/claims", headers={"Authorization": "Bearer wrong"}).status_code == 401
    svc.close()


@pytest.mark.parametrize(
    ("token", "method", "path", "allowed"),
    [
        (READER, "GET", "/api/claims", True),
        (READER, "GET", "/metrics", True),
        (READER, "POST", "/api/x12/submit", False),
        (READER, "POST", "/api/claims/c1/findings/1/override", False),
        (READER, "GET", "/api/dead-letters", False),
        (WRITER, "POST", "/api/claims/c1/findings/1/override", True),
        (WRITER, "GET", "/api/claims", True),
        (WRITER, "POST", "/api/dead-letters/replay", False),
        (WRITER, "GET", "/api/subscriptions", False),
        (WRITER, "POST", "/api/x12/quarantine/1/release", False),
        (READER, "GET", "/api/inbox/dead", False),
        (WRITER, "POST", "/api/inbox/1/replay", False),
        (READER, "GET", "/api/outbox/dead", False),
        (WRITER, "POST", "/api/outbox/replay", False),
        ("test-admin-token-0123456789", "GET", "/api/dead-letters", True),
        ("test-admin-token-0123456789", "GET", "/api/inbox/dead", True),
        ("test-admin-token-0123456789", "POST", "/api/outbox/1/replay", True),
        ("test-admin-token-0123456789", "POST", "/api/gaps/1/retry", True),
    ],
)
def test_scopes_are_enforced(client: TestClient, token: str, method: str, path: str, allowed: bool) -> None:
    body = {"reason": "checked with the payer"} if path.endswith("/override") else None
    response = client.request(method, path, headers={"Authorization": f"Bearer {token}"}, json=body)
    if allowed:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403, response.text
        assert required_scope(method, path) in response.json()["issue"][0]["diagnostics"]
