"""End to end in headless Chromium (Debian's chromium, driven by Playwright; see conftest.py).

claimbridge and the test EHR both run under uvicorn on free ports. The SMART test launches from the
EHR, signs in on the EHR's page, sees the encounter's findings, overrides one and checks it is
stored with the user's fhirUser; the second walks the failure pages; the third signs in to the
console and opens every page. Every page must load without console errors and pass axe-core with
no serious or critical violation; screenshots go to ``var/test-artifacts/browser/``.

SQLite only: the same flows run over HTTP on SQLite and PostgreSQL in test_smart.py and
test_console.py, and the browser budget is small.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.api.app import create_app
from app.db import claims_repo
from app.db.engine import read_only
from tests.web.conftest import PageWatch
from tests.web.helpers import PASSWORD, add_user, dead_delivery, dead_inbox_row
from tests.web.serve import serving
from tests.web.smart_env import PRACTITIONER, SmartEnv, app_port, smart_env

pytestmark = pytest.mark.browser
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartEnv]:
    tmp = tmp_path_factory.mktemp("browser")
    with smart_env(f"sqlite:///{tmp / 'claimbridge.db'}", tmp) as env:
        with serving(create_app(env.services), app_port(env)):
            yield env


def checked(watched: PageWatch, name: str, *, error_page: bool = False, axe: bool = True) -> None:
    """The page as it stands: screenshot, no console errors so far, no serious accessibility violation.

    ``error_page``: the document itself answered 4xx/5xx on purpose; Chromium logs that one status.
    ``axe=False`` for a template axe already passed in this module (same markup, other words).
    """
    watched.screenshot(name)
    if error_page:
        own = f"'url': '{watched.page.url}'"
        watched.errors = [e for e in watched.errors if not ("responded with a status of" in e and own in e)]
    assert watched.errors == [], f"{name}: {watched.errors}"
    if axe:
        violations = watched.axe_violations()
        assert violations == [], f"{name}: {violations}"


def test_smart_launch_sign_in_findings_override(live: SmartEnv, watched: PageWatch) -> None:
    page = watched.page
    page.set_viewport_size({"width": 820, "height": 1180})  # tablet, portrait
    page.goto(live.app_base + live.launch_path(), timeout=TIMEOUT_MS)
    page.get_by_label("User name").fill("dr.who")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{live.app_base}/smart/app", timeout=TIMEOUT_MS)
    assert page.get_by_role("heading", name="Encounter enc-005").is_visible()
    assert page.get_by_text("Ada Testpatient").is_visible()
    assert page.get_by_role("heading", name="Coder / biller").is_visible()
    checked(watched, "smart-encounter")

    reason = page.get_by_label("Reason to override coding.modifier-25-missing")
    reason.fill("separate problem, documented in the note")
    reason.press("Enter")  # keyboard reachable: submit from the field
    page.get_by_role("status").wait_for(timeout=TIMEOUT_MS)
    assert "Override saved" in page.get_by_role("status").inner_text()
    assert page.get_by_text(f"Overridden by {PRACTITIONER}").is_visible()
    checked(watched, "smart-overridden", axe=False)
    with read_only(live.services.engine) as conn:
        claim = claims_repo.list_claims(conn)[0]
    overridden = [f for f in claim["findings"] if f.get("override")]
    assert [(f["rule"], f["override"]["by"]) for f in overridden] == [("coding.modifier-25-missing", PRACTITIONER)]
    assert claim["status"] == "ready"


def test_smart_failure_pages(live: SmartEnv, watched: PageWatch) -> None:
    page = watched.page
    page.goto(live.app_base + live.launch_path(), timeout=TIMEOUT_MS)
    page.get_by_label("User name").fill("dr.who")
    page.get_by_role("button", name="Deny").click()
    page.get_by_role("heading", name="Access not granted").wait_for(timeout=TIMEOUT_MS)
    checked(watched, "smart-denied", error_page=True)

    page.goto(f"{live.app_base}/smart/callback?code=x&state=y", timeout=TIMEOUT_MS)  # that launch was consumed
    assert page.get_by_role("heading", name="Sign-in already used").is_visible()
    checked(watched, "smart-replayed", error_page=True, axe=False)

    page.goto(f"{live.app_base}/smart/launch?iss=https://unknown.example/fhir&launch=1", timeout=TIMEOUT_MS)
    assert page.get_by_role("heading", name="Unknown EHR").is_visible()
    checked(watched, "smart-unknown-ehr", error_page=True, axe=False)

    page.goto(f"{live.app_base}/smart/app", timeout=TIMEOUT_MS)
    assert page.get_by_role("heading", name="Launch from your EHR").is_visible()
    checked(watched, "smart-no-session", error_page=True, axe=False)

    live.ehr.down = True
    page.goto(live.app_base + live.launch_path(), timeout=TIMEOUT_MS)
    assert page.get_by_role("heading", name="The EHR is not answering").is_visible()
    checked(watched, "smart-ehr-down", error_page=True, axe=False)
    live.ehr.down = False


def test_console_pages(live: SmartEnv, watched: PageWatch) -> None:
    add_user(live.services, "eng", "engineer")
    page = watched.page
    page.goto(live.app_base + "/", timeout=TIMEOUT_MS)
    page.wait_for_url(f"{live.app_base}/console/login")
    checked(watched, "console-login")
    page.get_by_label("Name").fill("eng")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Revenue cycle").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("svg.chart").count() == 6
    checked(watched, "console-dashboard")

    page.get_by_role("link", name="Messages").click()
    page.get_by_role("heading", name="Messages").wait_for(timeout=TIMEOUT_MS)
    page.get_by_label("Encounter").fill("enc-005")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("cell", name="Encounter/enc-005").wait_for(timeout=TIMEOUT_MS)
    checked(watched, "console-messages")
    page.get_by_role("link", name="1", exact=True).first.click()
    page.get_by_role("heading", name="Jobs 1").wait_for(timeout=TIMEOUT_MS)
    checked(watched, "console-job")

    inbox_id = dead_inbox_row(live.services, "sub-browser")
    outbox_id = dead_delivery(live.services, "batch-browser")
    page.get_by_role("link", name="Dead letters").click()
    page.get_by_role("heading", name="Dead inbox rows").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("cell", name="batch-browser").is_visible()
    checked(watched, "console-dead-letters-rows")  # the three tables, with replay buttons, pass axe
    page.get_by_role("button", name="Replay all (0)").click()
    page.get_by_text("Replayed 0 dead letter(s).").wait_for(timeout=TIMEOUT_MS)  # htmx swapped it in
    page.get_by_role("button", name=f"Replay inbox row {inbox_id}").click()
    page.get_by_text("Replayed 1 dead inbox row(s).").wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("button", name=f"Replay delivery {outbox_id}").click()
    page.get_by_text("Replayed 1 dead delivery(ies).").wait_for(timeout=TIMEOUT_MS)
    checked(watched, "console-dead-letters", axe=False)

    for link, heading, shot in (
        ("Subscriptions", "Subscriptions", "console-subscriptions"),
        ("Config", "Configuration in use", "console-config"),
    ):
        page.get_by_role("link", name=link).click()
        page.get_by_role("heading", name=heading).wait_for(timeout=TIMEOUT_MS)
        checked(watched, shot)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live.app_base}/console/login")
    page.goto(f"{live.app_base}/console/", timeout=TIMEOUT_MS)
    assert page.get_by_role("heading", name="Sign-in required").is_visible()
    checked(watched, "console-signed-out", error_page=True, axe=False)
