"""Fixtures of the browser tests: one live site (tests/browser/live_site.py) and Debian's Chromium,
driven by Playwright, for all of them, stopped once the last one has run. Playwright's own browser
builds are not used: the chromium package (deploy/scripts/bootstrap.sh installs it) is launched by
its path."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.browser.live_site import PASSWORD, LiveSite
from tests.engine_simulator import DEFAULT_MODELS, EngineSimulator

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
BROWSER_DIR = Path(__file__).resolve().parent


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "browser: drives the live site in Chromium (tests/browser/)")


def pytest_collection_modifyitems(config, items) -> None:
    """The site the browser tests drive has a database of its own (SQLite), whichever database the
    suite runs on: they run in the SQLite pass only, and are deselected, never skipped, in the other."""
    if connection.vendor == "sqlite":
        return
    deselected = [item for item in items if item.get_closest_marker("browser")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("browser")]
        config.stash[_deselected_browser_tests] = len(deselected)


_deselected_browser_tests = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter, config) -> None:
    if count := config.stash.get(_deselected_browser_tests, 0):
        terminalreporter.write_line(
            f"{count} browser tests were deselected: the site they drive has its own SQLite database,"
            " so deploy/scripts/test.sh runs them in the SQLite pass."
        )


@pytest.fixture(scope="package")
def live_site(tmp_path_factory) -> Iterator[LiveSite]:
    # Paced, so that a reply arrives over a second or so, as a model streams it; llava:7b reads images.
    engine = EngineSimulator(
        models=[*DEFAULT_MODELS, "llava:7b"], vision_models=["llava:7b"], tokens_per_second=60
    ).start()
    site = LiveSite(folder=tmp_path_factory.mktemp("live-site"), engine=engine)
    try:
        yield site.start()
    finally:
        site.stop()
        engine.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def signed_in_states(browser, live_site, tmp_path_factory) -> Callable[[str], Path]:
    """The cookies of a demo account signed in through the sign-in form, made once per account."""
    states: dict[str, Path] = {}
    folder = tmp_path_factory.mktemp("signed-in")

    def state(username: str) -> Path:
        if username not in states:
            context = browser.new_context(base_url=live_site.url)
            page = context.new_page()
            sign_in(page, username)
            states[username] = folder / f"{username}.json"
            context.storage_state(path=states[username])
            context.close()
        return states[username]

    return state


def sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


class Browsing:
    """Opens pages in fresh browser contexts, signed in as a demo account or not, and checks at the
    end that no page threw an uncaught script error."""

    def __init__(self, browser: Browser, site: LiveSite, states: Callable[[str], Path]) -> None:
        self.browser, self.site, self.states = browser, site, states
        self.contexts: list[BrowserContext] = []
        self.script_errors: list[str] = []

    def context(self, as_user: str | None = None, *, phone: bool = False, **options) -> BrowserContext:
        if as_user is not None:
            options["storage_state"] = self.states(as_user)
        if phone:
            options.update(PHONE)
        context = self.browser.new_context(base_url=self.site.url, **options)
        context.set_default_timeout(15_000)
        context.on("weberror", lambda error: self.script_errors.append(f"{error.page.url}: {error.error}"))
        self.contexts.append(context)
        return context

    def page(self, as_user: str | None = None, **options) -> Page:
        return self.context(as_user, **options).new_page()

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(browser, live_site, signed_in_states) -> Iterator[Browsing]:
    session = Browsing(browser, live_site, signed_in_states)
    yield session
    session.close()
    assert not session.script_errors, f"Uncaught script errors: {session.script_errors}"
