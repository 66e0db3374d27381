"""The console's config page: a candidate configuration (uploaded files or a server directory) and its what-if.

On SQLite and PostgreSQL through the real app, one service per module with one stored held claim
(enc-005, finding ``coding.modifier-25-missing``). Nothing a test does may be applied: the stored
claim stays as it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.db import audit_repo, claims_repo
from app.db.engine import read_only
from app.services import Services
from tests.spine.helpers import ROOT, SECRET, make_services, notification, register
from tests.web.conftest import Clock
from tests.web.helpers import add_user, sign_in
from tests.web.smart_env import held_claim_bundle

RULE = "coding.modifier-25-missing"
RULES = f"global:\n  {RULE}:\n    enabled: false\n".encode()


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("candidates")
    shutil.copytree(ROOT / "config", root / "quiet")
    (root / "quiet" / "rules" / "quiet.yaml").write_bytes(RULES)
    return root


@pytest.fixture(scope="module")
def services(
    module_db_url: str, tmp_path_factory: pytest.TempPathFactory, module_clock: Clock, roots: Path
) -> Iterator[Services]:
    svc = make_services(
        module_db_url,
        tmp_path_factory.mktemp("console-config"),
        clock=module_clock,
        web={"candidate_config_roots": [str(roots)], "whatif_max_upload_bytes": 4096},
    )
    register(svc, sub_id="claimbridge-demo")
    add_user(svc, "vera", "viewer")
    add_user(svc, "eng", "engineer")
    with TestClient(create_app(svc), base_url="https://testserver") as c:
        body = orjson.dumps(notification(held_claim_bundle(), 1))
        sent = c.post(
            "/notifications",
            content=body,
            headers={"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"},
        )
        assert sent.status_code == 202
    svc.worker(worker_id="w").drain()
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), base_url="https://testserver") as c:
        yield c


def stored_findings(services: Services) -> list[str]:
    with read_only(services.engine) as conn:
        return sorted(f["rule"] for c in claims_repo.list_claims(conn) for f in c["findings"])


def whatif_audit(services: Services) -> list[tuple[str, str, str]]:
    with read_only(services.engine) as conn:
        events = audit_repo.list_events(conn, action="what-if")
    return [(e["actor"], e["outcome"], e["detail"].get("source", "")) for e in events]


def test_an_uploaded_rule_set_shows_its_what_if_and_nothing_is_applied(client: TestClient, services: Services) -> None:
    before = stored_findings(services)
    assert RULE in before
    csrf = sign_in(client, "eng")
    page = client.get("/console/config")
    assert 'action="/console/config/whatif"' in page.text and 'enctype="multipart/form-data"' in page.text
    answer = client.post(
        "/console/config/whatif",
        data={"csrf": csrf},
        files=[("rules", ("quiet.yaml", RULES, "application/yaml")), ("payers", ("", b"", "application/yaml"))],
    )
    assert answer.status_code == 200, answer.text
    assert "1 encounter(s) replayed: 1 claim(s) would change" in answer.text
    assert f"− finding {RULE}" in answer.text
    assert "upload: rules/quiet.yaml" in answer.text
    assert stored_findings(services) == before  # nothing applied
    assert ("eng", "success", "upload: rules/quiet.yaml") in whatif_audit(services)


def test_bad_yaml_is_a_400_on_the_page_and_audited(client: TestClient, services: Services) -> None:
    csrf = sign_in(client, "eng")
    bad = client.post(
        "/console/config/whatif", data={"csrf": csrf}, files=[("rules", ("broken.yaml", b"global: [\n", "text/yaml"))]
    )
    assert bad.status_code == 400
    assert "The candidate was not tried: (candidate)/rules/broken.yaml" in bad.text
    assert "claimbridge-candidate-" not in bad.text  # no temporary path shown
    unknown = client.post(
        "/console/config/whatif",
        data={"csrf": csrf},
        files=[("rules", ("typo.yaml", b"global:\n  coding.no-such-rule: {enabled: false}\n", "text/yaml"))],
    )
    assert unknown.status_code == 400 and "coding.no-such-rule" in unknown.text
    named = client.post(
        "/console/config/whatif", data={"csrf": csrf}, files=[("payers", ("notes.txt", b"x: 1\n", "text/plain"))]
    )
    assert named.status_code == 400 and "ending in .yaml or .yml" in named.text
    none = client.post("/console/config/whatif", data={"csrf": csrf}, files=[("rules", ("", b"", "text/yaml"))])
    assert none.status_code == 400 and "choose at least one" in none.text
    assert ("eng", "failure", "upload: rules/broken.yaml") in whatif_audit(services)


def test_a_server_directory_must_lie_under_an_allowed_root(
    client: TestClient, services: Services, roots: Path, tmp_path: Path
) -> None:
    csrf = sign_in(client, "eng")
    files = [("rules", ("", b"", "text/yaml"))]  # the browser sends the empty file input too
    inside = client.post("/console/config/whatif", data={"csrf": csrf, "directory": str(roots / "quiet")}, files=files)
    assert inside.status_code == 200 and f"− finding {RULE}" in inside.text
    shutil.copytree(ROOT / "config", tmp_path / "elsewhere")
    for outside in (str(tmp_path / "elsewhere"), str(roots / ".." / tmp_path.name / "elsewhere"), "/etc"):
        refused = client.post("/console/config/whatif", data={"csrf": csrf, "directory": outside}, files=files)
        assert refused.status_code == 400 and "not under an allowed directory" in refused.text
    missing = client.post("/console/config/whatif", data={"csrf": csrf, "directory": str(roots / "nope")}, files=files)
    assert missing.status_code == 400 and "no such directory" in missing.text


def test_roles_csrf_and_size_bound(client: TestClient) -> None:
    upload = [("rules", ("quiet.yaml", RULES, "application/yaml"))]
    assert client.post("/console/config/whatif", data={"csrf": "x"}, files=upload).status_code == 401
    csrf = sign_in(client, "vera")
    page = client.get("/console/config")
    assert "needs the engineer role" in page.text and "/console/config/whatif" not in page.text
    assert client.post("/console/config/whatif", data={"csrf": csrf}, files=upload).status_code == 403
    client.cookies.clear()
    csrf = sign_in(client, "eng")
    assert client.post("/console/config/whatif", data={"csrf": "forged"}, files=upload).status_code == 403
    big = [("rules", ("big.yaml", b"# " + b"x" * 5000 + b"\n", "application/yaml"))]
    too_large = client.post("/console/config/whatif", data={"csrf": csrf}, files=big)
    assert too_large.status_code == 413 and "at most 4,096 bytes" in too_large.text
    not_multipart = client.post("/console/config/whatif", data={"csrf": csrf})
    assert not_multipart.status_code == 400
