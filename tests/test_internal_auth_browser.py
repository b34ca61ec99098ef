"""`coder login`'s page, /internal-auth?show_token=true, in Chromium against a real server."""

import pytest
import requests

from tests.support import live_server
from tests.support.browser import loopback_only

PASSWORD = "Correct-Horse-Battery-9"
PAGE = "/internal-auth?show_token=true"


def _works(server, token: str) -> str:
    response = requests.get(
        f"{server.url}/api/v0/users/me", headers={"Session-Token": token}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["username"]


def _attack(action: str, fields: dict) -> str:
    inputs = "".join(f"<input type=hidden name='{k}' value='{v}'>" for k, v in fields.items())
    script = "<script>document.forms[0].submit()</script>"
    return f"<form method=POST action='{action}'>{inputs}</form>{script}"


def _serving(html: str):
    return lambda route: route.fulfill(body=html, content_type="text/html")


@pytest.mark.browser
def test_sign_in_then_a_new_api_key_on_a_page_of_its_own(browser_server, browser):
    browser_server.cli(
        "users", "create", "alice", "--email", "alice@example.com", "--password", PASSWORD,
    )  # fmt: skip
    context = browser.new_context()
    outside = loopback_only(context)
    page = context.new_page()
    requested, problems = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )

    # Signed out: the sign-in form, never cached, made of this one document.
    response = page.goto(browser_server.url + PAGE)
    assert response.status == 200
    assert response.headers["cache-control"] == "no-store"
    assert page.is_visible("input[name=email]") and page.is_visible("input[name=password]")
    assert requested == [browser_server.url + PAGE]
    # The page's own style applies (its CSP hash matches): nothing was blocked.
    margin = page.evaluate("getComputedStyle(document.body).maxWidth")
    assert margin == "576px", margin

    # A wrong password: the form again, with the reason.
    page.fill("input[name=email]", "alice@example.com")
    page.fill("input[name=password]", "wrong")
    with page.expect_navigation() as navigation:
        page.click("button[type=submit]")
    assert navigation.value.status == 401
    assert "Incorrect email or password." in page.inner_text("[role=alert]")

    # The right one: a new API key, shown once, that works.
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation() as navigation:
        page.click("button[type=submit]")
    assert navigation.value.status == 200
    assert navigation.value.headers["cache-control"] == "no-store"
    first = page.input_value("#token")
    assert _works(browser_server, first) == "alice"

    # Signed in now (the session cookie): the page offers another key, one click away.
    page.goto(browser_server.url + PAGE)
    assert "Signed in as alice" in page.inner_text("body")
    with page.expect_navigation():
        page.click("button[name=create]")
    second = page.input_value("#token")
    assert second != first and _works(browser_server, second) == "alice"

    # Another origin of the same site posting to the page: refused, signed in or not.
    evil = f"http://127.0.0.1:{live_server.free_port()}"
    for fields in ({"create": "1"}, {"email": "alice@example.com", "password": PASSWORD}):
        attack = _attack(browser_server.url + PAGE, fields)
        context.route(f"{evil}/**", _serving(attack))
        with page.expect_navigation(url=browser_server.url + PAGE) as navigation:
            page.goto(f"{evil}/")
        assert navigation.value.status == 403
        assert page.query_selector("#token") is None
        context.unroute(f"{evil}/**")
    # Nothing on the pages was blocked by their policy (the 401/403s above are logged too).
    assert [p for p in problems if "Content Security Policy" in p] == [], problems
    context.close()
    assert outside == [], f"requests left the machine: {outside}"
