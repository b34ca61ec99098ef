"""CSRF in a real browser against a real server (issue 14, finding 9).

A page on another origin of the same site (another port of 127.0.0.1, as a dev URL host is a
subdomain of the deployment's) auto-submits a `text/plain` form whose body is JSON: Chromium sends
the SameSite=Lax session cookie along. The server must refuse it, while the Swagger UI and a
same-origin form, both signed in by that cookie, keep working.
"""

import json

import pytest

from tests.support import live_server
from tests.support.browser import loopback_only, swagger_try_out

PASSWORD = "Correct-Horse-Battery-9"


def _form(action: str, username: str, auto: bool) -> str:
    """A text/plain form whose one field makes the body `{…,"x":"="}`: valid JSON."""
    name = (
        json.dumps(
            {
                "username": username,
                "email": f"{username}@example.com",
                "password": PASSWORD,
                "roles": ["site-admin"],
            }
        )[:-1]
        + ',"x":"'
    )
    field = f"<input type=hidden name='{name}' value='\"}}'>"
    script = "<script>document.forms[0].submit()</script>" if auto else ""
    return f'<form method=POST enctype="text/plain" action="{action}">{field}</form>{script}'


@pytest.mark.browser
def test_cookie_session_same_origin_works_cross_origin_form_is_refused(browser_server, browser):
    browser_server.cli(
        "users", "create", "admin", "--email", "admin@example.com",
        "--role", "site-admin", "--password", PASSWORD,
    )  # fmt: skip
    evil = f"http://127.0.0.1:{live_server.free_port()}"
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    outside = loopback_only(context)
    # The attacker's page, on another origin of the same site (registered last: tried first).
    attack = _form(f"{browser_server.url}/api/v0/users", "mallory", auto=True)
    context.route(f"{evil}/**", lambda route: route.fulfill(body=attack, content_type="text/html"))

    page = context.new_page()
    page.goto(f"{browser_server.url}/swagger", wait_until="networkidle")
    status = page.evaluate(
        """async (password) => (await fetch("/api/v2/users/login", {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({email: "admin@example.com", password}),
        })).status""",
        PASSWORD,
    )
    assert status == 201
    assert any(c["name"] == "coder_session_token" for c in context.cookies(browser_server.url))

    # The Swagger UI, signed in by the cookie alone, writes: a new API key.
    page.wait_for_selector('.opblock-summary-path[data-path="/api/v2/users/{user}"]')
    status, table = swagger_try_out(
        page, '.opblock-post .opblock-summary-path[data-path="/api/v2/users/{user}/keys"]'
    )
    assert status.startswith("201")
    assert "key" in table

    # A same-origin form (as a sign-in page of pycoderd's own would be) goes through.
    with page.expect_navigation():
        page.evaluate(
            "html => { document.body.innerHTML = html; document.forms[0].submit(); }",
            _form("/api/v0/users", "carol", auto=False),
        )
    created = json.loads(page.inner_text("body"))
    assert created["username"] == "carol"

    # The cross-origin form: the browser sends the cookie, the server refuses.
    with page.expect_navigation(url=f"{browser_server.url}/api/v0/users"):
        page.goto(f"{evil}/")
    refused = json.loads(page.inner_text("body"))
    assert refused.get("error", {}).get("code") == "forbidden", refused
    assert evil in refused["error"]["details"]

    page.goto(f"{browser_server.url}/swagger", wait_until="networkidle")
    usernames = page.evaluate(
        "async () => (await (await fetch('/api/v0/users')).json()).map(u => u.username)"
    )
    assert "carol" in usernames and "mallory" not in usernames
    context.close()
    assert outside == [], f"requests left the machine: {outside}"
