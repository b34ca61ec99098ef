"""A real browser opens /swagger with every non-loopback request blocked, and runs one call."""

import http.server
import re
import threading
from pathlib import Path

import pytest

from tests.support import live_server
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


@pytest.fixture(scope="module")
def module_server(tmp_path_factory):
    running = live_server.start(tmp_path_factory.mktemp("swagger"))
    try:
        yield running
    finally:
        live_server.stop(running)


def _authorize(page, scheme: str, token: str) -> None:
    """Fill one scheme of the "Authorize" dialog, and only that one."""
    page.click(".btn.authorize")
    title = page.locator("h4", has_text=re.compile(rf"^\s*{scheme}\b"))
    container = page.locator(".auth-container", has=title)
    container.locator("input").first.fill(token)
    container.locator("button.authorize").click()
    page.click(".btn-done")


def _try_get(page, path: str, placeholder: str, value: str):
    """Try out GET `path` with one path parameter; the response table's text and status."""
    page.click(f'.opblock-summary-path[data-path="{path}"]')
    block = page.locator(".opblock.is-open")
    block.locator(".try-out__btn").click()
    block.locator(f'input[placeholder="{placeholder}"]').fill(value)
    block.locator(".execute").click()
    status = block.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    return status.inner_text().strip(), block.locator(".live-responses-table").inner_text()


@pytest.mark.browser
@pytest.mark.parametrize(
    ("document", "scheme"),
    [
        ("v0 (classic)", "SessionToken"),
        ("v0 (classic)", "CoderSessionToken"),
        ("v0 (classic)", "SessionCookie"),
        ("v2 (general)", "CoderSessionToken"),
        ("v2 (general)", "SessionToken"),
        ("v2 (general)", "SessionCookie"),
    ],
)
def test_swagger_ui_authorize_with_each_scheme(module_server, browser, document, scheme):
    """Whichever scheme "Authorize" was given, the call carries the token: every operation
    lists the schemes as alternatives, each document its own header first."""
    server = module_server
    name = f"{document[:2]}-{scheme}".lower()
    user_id = server.cli("users", "create", name, "--email", f"{name}@example.com")
    token = server.cli("tokens", "create", "browser", "--user", name)
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    outside = loopback_only(context)
    page = context.new_page()
    page.goto(f"{server.url}/swagger", wait_until="networkidle")
    page.select_option("#select", label=document)
    if document.startswith("v0"):
        path, placeholder = "/api/v0/users/{user_id}", "user_id"
        first = "SessionToken"
    else:
        path, placeholder = "/api/v2/users/{user}", "user"
        first = "CoderSessionToken"
    page.wait_for_selector(f'.opblock-summary-path[data-path="{path}"]')
    page.click(".btn.authorize")
    assert page.locator(".auth-container h4").first.inner_text().strip().startswith(first)
    page.click(".btn-done")
    _authorize(page, scheme, token)
    status, text = _try_get(page, path, placeholder, "me")
    assert status.startswith("200"), text
    assert user_id in text
    context.close()
    assert outside == [], f"requests left the machine: {outside}"


@pytest.fixture
def framing_site(browser_server):
    """Another origin on loopback (a real server: Chromium's local network checks refuse a
    loopback frame in a page that no loopback address served) whose page frames /swagger."""
    page = f'<iframe id="victim" src="{browser_server.url}/swagger"></iframe>'.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()
        thread.join(5)


@pytest.mark.browser
def test_another_site_cannot_frame_the_swagger_ui(browser_server, framing_site, browser):
    """Issue 14, finding 17: a page elsewhere framed /swagger, the base of a clickjacking of
    its "Authorize" and "Try it out" buttons. Chromium must refuse to render it in the frame."""
    context = browser.new_context()
    outside = loopback_only(context)
    page = context.new_page()
    refused = []
    page.on("requestfailed", lambda request: refused.append(request.failure))
    page.goto(f"{framing_site}/", wait_until="load")
    victim = page.frame("victim")
    victim.wait_for_load_state("load")
    assert not victim.url.startswith(browser_server.url), (victim.url, refused)
    assert page.frame_locator("#victim").locator("#swagger-ui").count() == 0
    assert refused == ["net::ERR_BLOCKED_BY_RESPONSE"]  # the answer's headers, nothing else
    context.close()
    assert outside == []
