"""Browser tests: the app and its Stripe sandbox on a live server, driven by the system Chromium.

pytest-playwright provides `page`, `context`, `new_context` and `browser`; this file points it
at /usr/bin/chromium (`playwright install` cannot download here), serves a fresh app per test
on 127.0.0.1, and fails any test whose pages log a console error or a CSP violation.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import (
    Browser,
    BrowserContext,
    BrowserType,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from werkzeug.serving import make_server

from tests.helpers.apps import dispose
from tests.helpers.browser_driver import BUYER, WAIT_MS, ConsoleWatch, Live
from tests.helpers.builders import make_user
from tests.helpers.live_server import DeferredApp, QuietRequestHandler
from tests.helpers.sandbox_driver import SandboxDriver, sandbox_app_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = ROOT / "test-results" / "browser"
DOC_SCREENSHOTS = ROOT / "docs" / "screenshots"


def pytest_configure(config: pytest.Config) -> None:
    """Keep a screenshot and a Playwright trace of every failing browser test."""
    if config.option.screenshot == "off":
        config.option.screenshot = "only-on-failure"
    if config.option.tracing == "off":
        config.option.tracing = "retain-on-failure"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything in this folder as a browser test (`-m "not browser"` skips them)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Return the system Chromium; skip without it, but fail under CI where nothing may skip."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    message = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], chromium_executable: str
) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": chromium_executable,
        "args": CHROMIUM_ARGS,
    }


# pytest-playwright keeps Playwright (and the event loop its sync API runs in this thread)
# alive for the whole session, which breaks any later test that calls asyncio.run(). These
# overrides scope Playwright and the browser to this package: they stop after its last test.


@pytest.fixture(scope="package")
def playwright(_pw_api_request_contexts: Any) -> Iterator[Playwright]:
    pw = sync_playwright().start()
    if _pw_api_request_contexts:
        _pw_api_request_contexts.instrument(pw)
    yield pw
    pw.stop()


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return getattr(playwright, browser_name)


@pytest.fixture(scope="package")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def browser_context_args() -> dict[str, Any]:
    # A timezone far from UTC, so a time left in UTC by mistake shows up.
    return {
        "locale": "en-US",
        "timezone_id": "America/New_York",
        "viewport": {"width": 1280, "height": 860},
    }


@pytest.fixture
def console() -> Iterator[ConsoleWatch]:
    watch = ConsoleWatch()
    yield watch
    assert watch.unexpected() == [], "the browser logged errors"


@pytest.fixture
def new_context(new_context: Callable[..., BrowserContext]) -> Callable[..., BrowserContext]:
    """Contexts whose every wait has one generous bound (Playwright's defaults: 5 s and 30 s)."""
    expect.set_options(timeout=WAIT_MS)

    def make(**kwargs: Any) -> BrowserContext:
        context = new_context(**kwargs)
        context.set_default_timeout(WAIT_MS)
        context.set_default_navigation_timeout(WAIT_MS)
        return context

    return make


@pytest.fixture
def context(new_context: Callable[..., BrowserContext], console: ConsoleWatch) -> BrowserContext:
    """A browser context whose console errors and CSP violations fail the test."""
    return console.watch(new_context())


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    """Start a live server on 127.0.0.1 for a fresh app on the sandbox, with a buyer."""
    servers: list[tuple[Any, threading.Thread]] = []
    apps: list[Flask] = []

    def start(**overrides: Any) -> Live:
        deferred = DeferredApp()
        server = make_server(
            "127.0.0.1", 0, deferred, threaded=True, request_handler=QuietRequestHandler
        )
        thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
        thread.start()
        servers.append((server, thread))
        url = f"http://127.0.0.1:{server.server_port}"
        # The sandbox builds Checkout URLs from APP_BASE_URL when it mounts, so the port must
        # be known first: bind, then build the app, then hand it to the running server.
        settings = {"SANDBOX_DELIVERY_DELAY": 0, "SANDBOX_START_WORKER": True, **overrides}
        home = tmp_path / f"app{len(apps)}"
        home.mkdir()
        app = sandbox_app_for(home, APP_BASE_URL=url, **settings)
        apps.append(app)
        with app.app_context():
            make_user(BUYER)
        deferred.app = app
        return Live(url, app, SandboxDriver(app))

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(10)
    for app in apps:
        app.extensions["stripe_sandbox"].close()
        dispose(app)


@pytest.fixture
def live(serve: Callable[..., Live]) -> Live:
    """The app with the sandbox delivering webhooks on its own, at once."""
    return serve()


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """Save a full-page screenshot as a test artifact (and for the docs when asked)."""

    def take(page: Page, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        if os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1":
            DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=DOC_SCREENSHOTS / f"{name}.png", full_page=True)
        return path

    return take
