"""A real browser opens /swagger with every non-loopback request blocked, and runs one call."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import live_server

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture
def server(tmp_path):
    running = live_server.start(tmp_path)
    try:
        yield running
    finally:
        live_server.stop(running)


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


@pytest.mark.browser
def test_swagger_ui_offline_try_it_out(server, browser):
    user_id = server.cli(
        "users", "create", "admin", "--email", "a@example.com", "--role", "site-admin"
    )
    token = server.cli("tokens", "create", "browser", "--user", "admin")
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    outside = []

    def only_loopback(route):
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.goto(f"{server.url}/swagger", wait_until="networkidle")

    page.wait_for_selector('.opblock-summary-path[data-path="/api/v2/users/{user}"]')
    page.select_option("#select", label="v0 (classic)")
    page.wait_for_selector('.opblock-summary-path[data-path="/api/v0/users/{user_id}"]')
    page.select_option("#select", label="v2 (general)")
    page.wait_for_selector('.opblock-summary-path[data-path="/api/v2/users/{user}"]')

    page.click(".btn.authorize")
    first_scheme = page.locator(".auth-container").first
    first_scheme.locator("input").first.fill(token)
    first_scheme.locator("button.authorize").click()
    page.click(".btn-done")

    page.click('.opblock-summary-path[data-path="/api/v2/users/{user}"]')
    block = page.locator(".opblock.is-open")
    block.locator(".try-out__btn").click()
    block.locator('input[placeholder="user"]').fill("me")
    block.locator(".execute").click()
    status = block.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip().startswith("200")
    assert user_id in block.locator(".live-responses-table").inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "swagger-ui.png"), full_page=False)
    context.close()
    assert outside == [], f"requests left the machine: {outside}"
