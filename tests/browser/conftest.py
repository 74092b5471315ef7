"""Headless chromium for tests that open a page: Debian's `/usr/bin/chromium` driven by Playwright.

Playwright rather than Selenium: one pip package (its driver ships inside the wheel, no
chromedriver version to match), it waits for selectors by itself (no sleeps in tests), and it can
read what the page fetched (page weight). `playwright install` is never run: it downloads a
browser build of its own, which this project's machines cannot fetch; Debian's chromium is used
through `executable_path` instead (`apt-get install -y chromium`, done by `.ci/run` where absent).

Where chromium or playwright is missing the tests skip with the reason, except under `$CI`, where
they fail: a browser test that quietly skips on CI tests nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")

# Headless, and nothing that reaches the network on its own (updates, sync, QUIC probes).
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium_path() -> Path | None:
    """Debian's chromium, or `$BOTRUNNER_CHROMIUM` when set; None when there is none."""
    candidates = [os.environ["BOTRUNNER_CHROMIUM"]] if os.environ.get("BOTRUNNER_CHROMIUM") else CHROMIUM_PATHS
    return next((Path(p) for p in candidates if Path(p).is_file() and os.access(p, os.X_OK)), None)


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, where browser tests must run (.ci/run installs chromium)",
                    pytrace=False)
    pytest.skip(f"{reason} (install it: sudo apt-get install -y chromium; pip install -e '.[dev]')")


class SharedChromium:
    """One headless chromium process (a Playwright `Browser`) for the browser tests: launched by
    the first, closed after the last (`pytest_runtest_teardown` below). A launch cost 1-2 s a test
    on a loaded machine; each test still gets a fresh profile of its own from `browser`. Not a
    package-scoped fixture: this folder is no Python package, and pytest kept such a fixture, and
    chromium, to the end of the session."""

    def __init__(self) -> None:
        self._playwright = None
        self._browser = None

    def get(self) -> object:
        if self._browser is None:
            executable = chromium_path()
            if executable is None:
                _missing(f"no chromium found (looked for {', '.join(CHROMIUM_PATHS)})")
            try:
                from playwright.sync_api import sync_playwright
            except ImportError:
                _missing("the playwright package is not installed")
            self._playwright = sync_playwright().start()
            try:
                self._browser = self._playwright.chromium.launch(executable_path=str(executable), headless=True,
                                                                 args=list(CHROMIUM_ARGS))
            except BaseException:
                self.close()
                raise
        return self._browser

    def close(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            if self._playwright is not None:
                self._playwright.stop()
            self._playwright = self._browser = None


SHARED_CHROMIUM = SharedChromium()


@pytest.hookimpl(trylast=True)          # after the test's own fixtures (its context) are torn down
def pytest_runtest_teardown(item, nextitem) -> None:
    if nextitem is None or nextitem.path.parent != Path(__file__).parent:
        SHARED_CHROMIUM.close()


def pytest_sessionfinish(session) -> None:
    SHARED_CHROMIUM.close()             # a session stopped early (-x, Ctrl-C) in this folder


@pytest.fixture
def browser() -> Iterator[object]:
    """A fresh browser profile (a Playwright `BrowserContext`: its own cookies, storage and cache,
    nothing kept from another test) in the shared headless chromium, closed after the test. Open
    pages with `browser.new_page()`; see `page` for the common case."""
    context = SHARED_CHROMIUM.get().new_context()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """One page (a Playwright `Page`) in a fresh browser profile; what the page logs to its
    console as an error, or throws, fails the test at teardown."""
    page = browser.pages[0] if browser.pages else browser.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("console", lambda message: page_errors.append(message.text) if message.type == "error" else None)
    yield page
    assert not page_errors, f"the page reported errors: {page_errors}"
