"""A real browser opens /swagger with every non-loopback request blocked, and runs one call."""

from pathlib import Path

import pytest

from tests.support.browser import loopback_only, swagger_try_out

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.mark.browser
def test_swagger_ui_offline_try_it_out(browser_server, browser):
    user_id = browser_server.cli(
        "users", "create", "admin", "--email", "a@example.com", "--role", "site-admin"
    )
    token = browser_server.cli("tokens", "create", "browser", "--user", "admin")
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    outside = loopback_only(context)
    page = context.new_page()
    page.goto(f"{browser_server.url}/swagger", wait_until="networkidle")

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

    status, table = swagger_try_out(page, '.opblock-summary-path[data-path="/api/v2/users/{user}"]')
    assert status.startswith("200")
    assert user_id in table

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "swagger-ui.png"), full_page=False)
    context.close()
    assert outside == [], f"requests left the machine: {outside}"
