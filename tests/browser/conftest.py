"""Browser tests: Debian's Chromium, headless, driven by Playwright's Python package (never a downloaded browser).

The browser is started once per session, in pytest-asyncio's session-scoped event loop; the project's default loop is
per function (asyncio_default_fixture_loop_scope), and a Playwright connection only works in the loop it was started
in, so every browser test module runs its tests in the session loop too:

    pytestmark = pytest.mark.asyncio(loop_scope="session")

and so do their async fixtures (@pytest_asyncio.fixture(loop_scope="session")): a server started in a function
loop would not answer while the test awaits in the session loop.
Each test gets a fresh context and page (about 0.2 s) instead of a fresh browser (about 0.6 s more).
The page reaches the test server only: any request to another host is aborted and recorded (`watch.blocked`), as
are console errors and uncaught exceptions (`watch.errors`), for the tests to assert on.
Without Chromium (or the playwright package) the tests are skipped; under CI (CI set) they fail instead, as the
PostgreSQL tests do.
"""
from __future__ import annotations

import asyncio

import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

try:
    from playwright.async_api import async_playwright
except ImportError:  # a .venv from before the test extra named it: `make test` brings it up to date
    if os.environ.get("CI"):
        raise ImportError("the playwright package is not installed (pip install -e '.[test]'); "
                          "CI must run the browser tests") from None
    pytest.skip("the playwright package is not installed (pip install -e '.[test]')", allow_module_level=True)

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Page, Request, Route

CHROMIUM = os.environ.get("CROPHUB_TEST_CHROMIUM", "/usr/bin/chromium")
LOOP_SCOPE = "session"
LOCAL = "127.0.0.1"  # where serve() listens: the only host a page may reach


@pytest_asyncio.fixture(scope="session", loop_scope=LOOP_SCOPE)
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium from CROPHUB_TEST_CHROMIUM (default Debian's /usr/bin/chromium), for the session."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CROPHUB_TEST_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the browser tests (make test installs Debian's chromium)")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        await browser.close()


class Watch:
    """What a test's page asked for, what it was refused, and what it complained about."""

    def __init__(self) -> None:
        self.requests: list[str] = []  # every URL the page requested (data: URLs are not requests)
        self.blocked: list[str] = []  # those to another host than the test server: aborted
        self.errors: list[str] = []  # console errors and uncaught exceptions

    def attach(self, page: Page) -> None:
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    async def route(self, route: Route) -> None:
        """Context-wide: a request to the test server goes on; any other is recorded and aborted."""
        url = route.request.url
        if urlsplit(url).hostname == LOCAL:
            await route.fallback()
        else:
            self.blocked.append(url)
            await route.abort("blockedbyclient")

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium fetches /favicon.ico by itself (the pages name none): its 404 is the browser's, not the page's.
        if message.type == "error" and urlsplit(message.location.get("url", "")).path != "/favicon.ico":
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")


@pytest.fixture
def watch() -> Watch:
    """This test's page's requests, blocked requests and errors (see Watch)."""
    return Watch()


@pytest_asyncio.fixture(loop_scope=LOOP_SCOPE)
async def page(request: pytest.FixtureRequest, browser: Browser, watch: Watch) -> AsyncIterator[Page]:
    """A fresh page in a fresh browser context (no cookies, storage or cache from other tests), watched."""
    marker = request.node.get_closest_marker("asyncio")
    if marker is None or (marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")) != LOOP_SCOPE:
        pytest.fail(f'a browser test must run in the {LOOP_SCOPE} event loop: '
                    f'pytestmark = pytest.mark.asyncio(loop_scope="{LOOP_SCOPE}")')
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    await context.route("**/*", watch.route)
    page = await context.new_page()
    watch.attach(page)
    yield page
    await context.close()


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (a free port) in the running loop; yields its base URL, without a trailing slash."""
    server = TestServer(app, host=LOCAL)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def until(page: Page, script: str, timeout: float = 10.0) -> Any:
    """Evaluate `script` (a JS function or expression) in the page every 50 ms until it gives a truthy value;
    → that value. Not page.wait_for_function: that compiles its predicate inside the page, which the pages'
    Content-Security-Policy (no eval) rightly refuses."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await page.evaluate(script)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {script[:120]}")
        await asyncio.sleep(0.05)
