"""Cookie-authenticated writes must come from the deployment's own origin (issue 14, finding 9).

The attack as reported: a page on another origin of the same site (a dev URL host, or another
port of the same address) submits a `text/plain` form whose body is JSON; the browser attaches the
admin's session cookie, and the API created a site admin.
"""

import pytest

from app import db
from app.models import User
from tests.factories import make_token, make_user

# What `<form enctype="text/plain">` with one input named `{"...":"...","x":"` and value `"}`
# sends: name=value, i.e. valid JSON.
FORGED = (
    '{"username":"mallory","email":"mallory@example.com","password":"Correct-Horse-Battery-9",'
    '"roles":["site-admin"],"x":"="}'
)
TEXT_PLAIN = {"Content-Type": "text/plain"}


def _forge(client, headers: dict, **kwargs):
    """The forged form post: create `mallory`, a site admin."""
    return client.post("/api/v0/users", data=FORGED, headers={**TEXT_PLAIN, **headers}, **kwargs)


def _mallory_exists() -> bool:
    with db.database.connection_context():
        return User.select().where(User.username == "mallory").exists()


@pytest.fixture
def admin_cookie(client):
    client.set_cookie("coder_session_token", make_token(make_user("site-admin")))
    return client


def test_cross_origin_text_plain_post_with_cookie_is_refused(admin_cookie):
    response = _forge(admin_cookie, {"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert "origin" in response.json["error"]["details"].lower()
    assert not _mallory_exists()


def test_v2_envelope(admin_cookie):
    response = admin_cookie.post("/api/v2/users/logout", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert response.json["message"] == "Forbidden."
    assert "origin" in response.json["detail"].lower()


def test_dev_url_host_is_another_origin(make_app):
    """A page on a dev URL host (same site: a subdomain of the wildcard) is refused."""
    app = make_app(
        CODER_ACCESS_URL="https://coder.example.com",
        CODER_WILDCARD_ACCESS_URL="*.coder.example.com",
    )
    client = app.test_client()
    token = make_token(make_user("site-admin"))
    client.set_cookie("coder_session_token", token, domain="coder.example.com")
    dev_url = "https://8080--ws-attacker.coder.example.com"
    response = _forge(client, {"Origin": dev_url}, base_url="https://coder.example.com")
    assert response.status_code == 403
    assert not _mallory_exists()
    response = _forge(
        client, {"Origin": "https://coder.example.com"}, base_url="https://coder.example.com"
    )
    assert response.status_code == 201, response.json
    assert _mallory_exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v0/users"),
        ("PUT", "/api/v0/workspaces/config"),
        ("PATCH", "/api/v0/users/{id}"),
        ("DELETE", "/api/v0/users/{id}"),
    ],
)
def test_every_unsafe_method_without_origin_or_referer_is_refused(admin_cookie, method, path):
    user = make_user()
    response = admin_cookie.open(path.format(id=user.id), method=method, json={})
    assert response.status_code == 403, response.json
    with db.database.connection_context():
        assert User.get_or_none(User.id == user.id) is not None


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost"},  # this request's own origin (test client: localhost)
        {"Origin": "HTTP://LOCALHOST:80"},  # the same origin, spelled otherwise
        {"Referer": "http://localhost/swagger"},  # no Origin: a same-origin Referer will do
    ],
)
def test_same_origin_passes(admin_cookie, headers):
    response = _forge(admin_cookie, headers)
    assert response.status_code == 201, response.json


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null"},  # sandboxed frames, data: pages, cross-origin redirects
        {"Origin": "http://localhost:8080"},  # another port is another origin
        {"Origin": "https://localhost"},  # another scheme too
        {"Origin": "http://evil.example", "Referer": "http://localhost/swagger"},
        {"Referer": "http://evil.example/page"},
        {"Referer": "not a url"},
    ],
)
def test_other_origins_are_refused(admin_cookie, headers):
    response = _forge(admin_cookie, headers)
    assert response.status_code == 403
    assert not _mallory_exists()


def test_access_url_origin_passes_behind_a_proxy(make_app):
    """Behind a proxy that rewrites Host, the access URL's origin is the deployment's."""
    app = make_app(CODER_ACCESS_URL="https://coder.example.com/")
    client = app.test_client()
    token = make_token(make_user("site-admin"))
    client.set_cookie("coder_session_token", token, domain="127.0.0.1")
    response = _forge(
        client, {"Origin": "https://coder.example.com"}, base_url="http://127.0.0.1:3000"
    )
    assert response.status_code == 201, response.json


def test_forwarded_host_counts_only_from_trusted_proxies(make_app):
    app = make_app(
        CODER_PROXY_TRUSTED_HEADERS="X-Forwarded-Host,X-Forwarded-Proto",
        CODER_PROXY_TRUSTED_ORIGINS="10.0.0.0/8",
    )
    client = app.test_client()
    client.set_cookie("coder_session_token", make_token(make_user("site-admin")))
    forwarded = {
        "Origin": "https://coder.example.com",
        "X-Forwarded-Host": "coder.example.com",
        "X-Forwarded-Proto": "https",
    }
    untrusted = _forge(client, forwarded, environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert untrusted.status_code == 403
    trusted = _forge(client, forwarded, environ_overrides={"REMOTE_ADDR": "10.1.2.3"})
    assert trusted.status_code == 201, trusted.json


@pytest.mark.parametrize("how", ["Coder-Session-Token", "Session-Token", "query"])
def test_header_and_query_tokens_are_unaffected(client, how):
    token = make_token(make_user("site-admin"))
    headers = {**TEXT_PLAIN, "Origin": "http://evil.example"}
    url = "/api/v0/users"
    if how == "query":
        url += f"?coder_session_token={token}"
    else:
        headers[how] = token
    response = client.post(url, data=FORGED, headers=headers)
    assert response.status_code == 201, response.json


def test_safe_methods_with_cookie_are_unaffected(admin_cookie):
    response = admin_cookie.get("/api/v0/users", headers={"Origin": "http://evil.example"})
    assert response.status_code == 200


def test_origin_is_checked_before_the_cookie_is(client):
    """A forged request is refused before authentication: no lookup, no activity recorded."""
    client.set_cookie("coder_session_token", "garbage")
    response = _forge(client, {"Origin": "http://evil.example"})
    assert response.status_code == 403
