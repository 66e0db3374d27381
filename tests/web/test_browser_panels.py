"""The SMART app's eligibility and prior-auth panels in headless Chromium (see conftest.py), at tablet
width (768 px), driven from the keyboard, with and without JavaScript.

claimbridge, the test EHR and the payer double each run under uvicorn on a free port; the test plays
the worker (its eligibility duty and outbox) between clicks. With JavaScript the pending panel polls
itself (htmx) until the answer lands; without it, the forms post and the page reloads.
SQLite only: the same actions run over HTTP on SQLite and PostgreSQL in test_smart_panels.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.api.app import create_app
from app.db import audit_repo
from app.db.engine import read_only
from tests.eligibility.helpers import response
from tests.web.conftest import PageWatch
from tests.web.payer_panels_env import ORDER, PayerDouble, panels_env, run_eligibility, run_outbox
from tests.web.serve import serving
from tests.web.smart_env import PRACTITIONER, SmartEnv, app_port
from tests.web.test_browser import TIMEOUT_MS, checked

pytestmark = pytest.mark.browser
TABLET = {"width": 768, "height": 1024}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SmartEnv, PayerDouble]]:
    tmp = tmp_path_factory.mktemp("browser-panels")
    with panels_env(f"sqlite:///{tmp / 'claimbridge.db'}", tmp) as (env, payer):
        with serving(create_app(env.services), app_port(env)):
            yield env, payer


def sign_in(page: Any, env: SmartEnv) -> None:
    page.goto(env.app_base + env.launch_path(), timeout=TIMEOUT_MS)
    page.get_by_label("User name").fill("dr.who")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{env.app_base}/smart/app", timeout=TIMEOUT_MS)


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


def tab_to(page: Any, label: str, *, limit: int = 120) -> None:
    """Press Tab until the focused control's accessible text is ``label`` (fails after ``limit`` presses)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.textContent.trim()") == label:
            return
    raise AssertionError(f"{label!r} is not reachable with the Tab key")


def test_panels_at_tablet_width_keyboard_actions_and_the_pending_panel_polling(
    live: tuple[SmartEnv, PayerDouble], watched: PageWatch
) -> None:
    env, payer = live
    page = watched.page
    page.set_viewport_size(TABLET)
    sign_in(page, env)
    eligibility = page.locator("#eligibility")
    assert page.get_by_role("heading", name="Eligibility").is_visible()
    assert eligibility.get_by_text("active", exact=True).is_visible()
    assert page.get_by_role("heading", name="Patient's estimated share: $25.00").is_visible()
    assert page.get_by_role("heading", name="Prior authorization").is_visible()
    assert page.get_by_role("button", name="Request authorization").is_visible()
    assert no_horizontal_scroll(page)
    checked(watched, "smart-panels")

    tab_to(page, "Re-check eligibility")
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="Eligibility re-check requested.").wait_for(timeout=TIMEOUT_MS)
    assert eligibility.get_by_text("Re-check pending").is_visible()
    checked(watched, "smart-eligibility-pending", axe=False)

    payer.eligibility = response(inforce=False)
    try:
        assert run_eligibility(env.services) == 1  # the worker sends it; the panel polls itself
        eligibility.get_by_text("Policy terminated.").wait_for(timeout=TIMEOUT_MS)
    finally:
        payer.eligibility = PayerDouble().eligibility
    assert eligibility.get_by_text("inactive", exact=True).is_visible()
    assert eligibility.get_by_text("Re-check pending").count() == 0
    assert page.url.endswith("#elig-h")  # swapped in place, no navigation

    tab_to(page, "Request authorization")
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text=f"Authorization requested for {ORDER}").wait_for(timeout=TIMEOUT_MS)
    run_outbox(env.services)
    page.reload()
    page.get_by_text("Authorization number AUTH0001").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("button", name="Request authorization").count() == 0
    assert no_horizontal_scroll(page)
    checked(watched, "smart-panels-done", axe=False)  # the same markup axe passed above
    with read_only(env.services.engine) as conn:
        actors = {e["action"]: e["actor"] for e in audit_repo.list_events(conn)}
    assert actors["eligibility-recheck"] == actors["pa-request"] == PRACTITIONER


def test_panels_are_readable_and_the_forms_post_without_javascript(
    live: tuple[SmartEnv, PayerDouble], browser: Any
) -> None:
    env, _ = live
    context = browser.new_context(viewport=TABLET, java_script_enabled=False)
    try:
        watched = PageWatch(context.new_page())
        page = watched.page
        sign_in(page, env)
        assert page.get_by_role("heading", name="Eligibility").is_visible()
        assert page.get_by_text("Payer's words:").is_visible()
        assert page.locator("#pa-h + div").get_by_text(ORDER).is_visible()
        page.get_by_role("button", name="Re-check eligibility").click()
        page.get_by_role("status").filter(has_text="Eligibility re-check requested.").wait_for(timeout=TIMEOUT_MS)
        assert page.get_by_text("Re-check pending").is_visible()
        assert run_eligibility(env.services) == 1
        page.get_by_role("link", name="Reload").click()
        page.get_by_role("button", name="Re-check eligibility").wait_for(timeout=TIMEOUT_MS)
        assert page.get_by_text("Re-check pending").count() == 0
        assert no_horizontal_scroll(page)
        assert watched.errors == []
        watched.screenshot("smart-panels-no-js")
    finally:
        context.close()


def test_the_pending_panel_refreshes_under_the_apps_content_security_policy(
    live: tuple[SmartEnv, PayerDouble], browser: Any
) -> None:
    """The other walks bypass the CSP (to inject axe); this one keeps it: htmx's polling must not trip it."""
    env, _ = live
    context = browser.new_context(viewport=TABLET)
    try:
        watched = PageWatch(context.new_page())
        page = watched.page
        sign_in(page, env)
        page.get_by_role("button", name="Re-check eligibility").click()
        page.locator("#eligibility").get_by_text("Re-check pending").wait_for(timeout=TIMEOUT_MS)
        assert run_eligibility(env.services) == 1
        page.locator("#eligibility").get_by_text("Re-check pending").wait_for(state="detached", timeout=TIMEOUT_MS)
        assert page.get_by_role("button", name="Re-check eligibility").is_visible()
        assert watched.errors == []
    finally:
        context.close()
