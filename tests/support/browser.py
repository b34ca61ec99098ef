"""Browser tests: a headless Chromium (playwright; skipped where absent), a server to visit."""

import os
from urllib.parse import urlsplit

import pytest

from tests.support import live_server

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture
def browser():
    chromium = live_server.chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium and playwright are required under CI=true")
        pytest.skip(
            "needs Chromium (apt-get install chromium) and playwright (pip install -e .[test])"
        )
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def browser_server(tmp_path):
    """A real `pycoderd server` for a browser to visit."""
    running = live_server.start(tmp_path)
    try:
        yield running
    finally:
        live_server.stop(running)


def loopback_only(context) -> list[str]:
    """Abort every request of this browser context that would leave the machine; the list
    returned collects their URLs."""
    outside = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(("data:", "blob:")) or (urlsplit(url).hostname or "") in LOOPBACK:
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    context.route("**/*", route)
    return outside


def swagger_try_out(page, operation: str, user: str = "me") -> tuple[str, str]:
    """In the open Swagger UI, run `operation` (a CSS selector for its summary) with `user`
    filled in; return the response's status cell and the whole response table's text."""
    page.click(operation)
    block = page.locator(".opblock.is-open")
    block.locator(".try-out__btn").click()
    block.locator('input[placeholder="user"]').fill(user)
    block.locator(".execute").click()
    status = block.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    return status.inner_text().strip(), block.locator(".live-responses-table").inner_text()
