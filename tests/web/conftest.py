"""Browser fixtures: one headless Chromium per test session, driven by Playwright.

The browser is Debian's ``chromium`` package (``/usr/bin/chromium``), started through Playwright's
``executable_path``: nothing is ever downloaded (no ``playwright install``). Without it the browser
tests are skipped with a message saying how to install it, unless ``CLAIMBRIDGE_REQUIRE_CHROMIUM=1``
(as in ``.ci/run``), where its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
INSTALL_HINT = "install Debian's chromium: apt-get install chromium"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CLAIMBRIDGE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _missing(why: str) -> None:
    if os.environ.get("CLAIMBRIDGE_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{why} but CLAIMBRIDGE_REQUIRE_CHROMIUM=1: {INSTALL_HINT}")
    pytest.skip(f"browser test skipped ({why}): {INSTALL_HINT}")


# Module scope, not session: Playwright's sync API keeps an event loop running on the main thread
# while it is active, so every async test collected after the browser module would fail to start.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        _missing("no chromium executable found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class PageWatch:
    """A page plus everything the browser reported as an error while the test used it."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} {message.location}")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe_violations(self, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
        """Run the vendored axe-core on the current page; the serious and critical violations."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        result = self.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        return [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
            if v.get("impact") in impacts
        ]


@pytest.fixture
def watched(browser: Any) -> Iterator[PageWatch]:
    context = browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True)  # axe is injected
    try:
        yield PageWatch(context.new_page())
    finally:
        context.close()


class Clock:
    """A settable clock for the services of a module (reset to the real time before each test)."""

    def __init__(self) -> None:
        from app.db.sql import utcnow

        self.now = utcnow()

    def __call__(self) -> Any:
        return self.now

    def reset(self) -> None:
        from app.db.sql import utcnow

        self.now = utcnow()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_url: str | None
) -> Iterator[str]:
    """Like ``db_url``, one database per test module: the web tests share one seeded service per module."""
    from tests.conftest import fresh_schema, skip_without_postgres

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('web-db') / 'claimbridge.db'}"
        return
    if pg_url is None:
        skip_without_postgres()
    with fresh_schema(pg_url) as url:
        yield url


@pytest.fixture(scope="module")
def module_clock() -> Clock:
    return Clock()


@pytest.fixture
def clock(module_clock: Clock) -> Clock:
    module_clock.reset()
    return module_clock
