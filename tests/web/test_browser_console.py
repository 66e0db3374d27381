"""The console's forms in headless Chromium (see conftest.py): the what-if upload on the config page.

claimbridge runs under uvicorn on a free port with one stored held claim (enc-005). Every page must
load without console errors and pass axe-core with no serious or critical violation; screenshots
go to ``var/test-artifacts/browser/``. SQLite only: the same flows run over HTTP on SQLite and
PostgreSQL in test_console_config.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.services import Services
from tests.spine.helpers import SECRET, make_services, notification, register
from tests.web.conftest import PageWatch
from tests.web.helpers import PASSWORD, add_user
from tests.web.serve import serving
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
