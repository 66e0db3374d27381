"""The console's forms in headless Chromium (see conftest.py): the what-if upload on the config page,
and single sign-on through the test OpenID Connect provider (tests/web/oidc_idp.py).

claimbridge runs under uvicorn on a free port with one stored held claim (enc-005). Every page must
load without console errors and pass axe-core with no serious or critical violation; screenshots
go to ``var/test-artifacts/browser/``. SQLite only: the same flows run over HTTP on SQLite and
PostgreSQL in test_console_config.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.services import Services, build_services
from app.settings import Settings
from tests.spine.helpers import ADMIN, ROOT, SECRET, make_services, notification, register
from tests.web.conftest import PageWatch
from tests.web.helpers import PASSWORD, add_user
from tests.web.oidc_idp import OidcProvider
from tests.web.serve import free_port, serving
from tests.web.smart_ehr import Client
from tests.web.smart_env import held_claim_bundle
from tests.web.test_browser import TIMEOUT_MS, checked

pytestmark = pytest.mark.browser
RULE = "coding.modifier-25-missing"


@dataclass
class Live:
    services: Services
    base: str
    tmp: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("browser-console")
    services = make_services(f"sqlite:///{tmp / 'claimbridge.db'}", tmp)
    register(services, sub_id="claimbridge-demo")
    add_user(services, "eng", "engineer")
    with TestClient(create_app(services), base_url="https://testserver") as c:
        sent = c.post(
            "/notifications",
            content=orjson.dumps(notification(held_claim_bundle(), 1)),
            headers={"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"},
        )
        assert sent.status_code == 202
    services.worker(worker_id="w").drain()
    try:
        with serving(create_app(services)) as base:
            yield Live(services, base, tmp)
    finally:
        services.close()


def sign_in(live: Live, watched: PageWatch, name: str = "eng") -> None:
    page = watched.page
    page.goto(f"{live.base}/console/login", timeout=TIMEOUT_MS)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Revenue cycle").wait_for(timeout=TIMEOUT_MS)


def test_config_what_if_upload(live: Live, watched: PageWatch) -> None:
    page = watched.page
    sign_in(live, watched)
    page.get_by_role("link", name="Config").click()
    page.get_by_role("heading", name="Try a candidate configuration").wait_for(timeout=TIMEOUT_MS)

    broken = live.tmp / "broken.yaml"
    broken.write_text("global: [\n")
    page.get_by_label("Rule sets (rules/*.yaml)").set_input_files(str(broken))
    page.get_by_role("button", name="Show what would change").click()
    page.get_by_role("alert").wait_for(timeout=TIMEOUT_MS)
    assert "(candidate)/rules/broken.yaml" in page.get_by_role("alert").inner_text()
    checked(watched, "console-whatif-bad-yaml", error_page=True)

    quiet = live.tmp / "quiet.yaml"
    quiet.write_text(f"global:\n  {RULE}:\n    enabled: false\n")
    page.get_by_label("Rule sets (rules/*.yaml)").set_input_files(str(quiet))
    page.get_by_role("button", name="Show what would change").click()
    page.get_by_role("heading", name="What the candidate would change").wait_for(timeout=TIMEOUT_MS)
    assert "1 claim(s) would change" in page.get_by_role("status").inner_text()
    assert page.get_by_text(f"− finding {RULE}").is_visible()
    checked(watched, "console-whatif")


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """claimbridge with OIDC sign-in configured, and its provider, both served; the app's base URL."""
    tmp = tmp_path_factory.mktemp("browser-sso")
    idp, idp_port, app_port = OidcProvider(), free_port(), free_port()
    idp.base, base = f"http://127.0.0.1:{idp_port}", f"http://127.0.0.1:{app_port}"
    secret = secrets.token_urlsafe(24)
    idp.add_client(Client("console", [f"{base}/console/oidc/callback"], "client_secret_basic", secret=secret))
    idp.add_person("olive", preferred_username="olive", claimbridge_role="engineer")
    settings = Settings(
        env="development",  # plain-http cookies for the local browser
        database_url=f"sqlite:///{tmp / 'claimbridge.db'}",
        config_dir=ROOT / "config",
        refdata_dir=tmp / "refdata",
        api={"admin_token": ADMIN, "public_base_url": base},
        adapters={"out_dir": str(tmp / "out")},
        web={
            "oidc_issuer": idp.issuer,
            "oidc_client_id": "console",
            "oidc_client_secret": secret,
            "oidc_label": "Test SSO",
        },
    )
    services = build_services(settings)
    try:
        with serving(idp.app, idp_port), serving(create_app(services), app_port):
            yield base
    finally:
        services.close()


def test_console_single_sign_on(sso: str, watched: PageWatch) -> None:
    page = watched.page
    page.goto(f"{sso}/console/login", timeout=TIMEOUT_MS)
    checked(watched, "console-login-sso")
    page.get_by_role("link", name="Sign in with Test SSO").click()
    page.get_by_label("User name").fill("olive")
    page.get_by_role("button", name="Allow").click()
    page.get_by_role("heading", name="Revenue cycle").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_text("olive (engineer)").is_visible()
    checked(watched, "console-dashboard-sso", axe=False)
