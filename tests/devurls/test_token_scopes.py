"""Token scopes (issue 14 finding 8): `application_connect` reaches dev URLs only, as coderd's."""

import re
from urllib.parse import urlsplit

import pytest

from app import db
from app.models import APIKey, User
from tests.devurls.conftest import make_devurl, make_workspace
from tests.factories import make_token, make_user


@pytest.fixture
def owner(app):
    user = make_user(username="scoped", name="Before")
    return user, make_token(user)


def _app_token(client, token):
    """The token a user mints with `coder tokens create --scope application_connect`."""
    minted = client.post(
        "/api/v2/users/me/keys/tokens",
        json={"token_name": "apps", "scope": "application_connect"},
        headers={"Coder-Session-Token": token},
    )
    assert minted.status_code == 201, minted.json
    return minted.json["key"]


def test_application_connect_token_cannot_mint_keys_or_edit_its_user(client, owner):
    """The attack as reported: such a token minted a full API key and edited its user."""
    user, token = owner
    app_token = _app_token(client, token)
    with db.database.connection_context():
        keys_before = APIKey.select().where(APIKey.user == user.id).count()
    for version, header in (("v2", "Coder-Session-Token"), ("v0", "Session-Token")):
        headers = {header: app_token}
        attempts = (
            client.post("/api/v2/users/me/keys", headers=headers),
            client.post(
                "/api/v2/users/me/keys/tokens", json={"token_name": "full"}, headers=headers
            ),
            client.post("/api/v0/api-keys/me", json={"name": "full"}, headers=headers),
            client.patch("/api/v0/users/me", json={"name": "Owned"}, headers=headers),
            client.get("/api/v2/users/me", headers=headers),
        )
        for answer in attempts:
            assert answer.status_code == 403, (version, answer.request.path, answer.json)
            assert "key" not in answer.json
    with db.database.connection_context():
        assert APIKey.select().where(APIKey.user == user.id).count() == keys_before
        assert User.get_by_id(user.id).name == "Before"
    # the same user's full token still works
    assert client.get("/api/v2/users/me", headers={"Coder-Session-Token": token}).status_code == 200


def _sample_path(rule) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: f"x{m.group(1)}", rule.rule)


def test_every_api_route_refuses_application_connect(app, client, owner):
    """Every API route that takes a token answers 403 to an application_connect one (where an
    anonymous request gets 401), but the dev URL sign-in."""
    _, token = owner
    app_token = _app_token(client, token)
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = _sample_path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            anonymous = client.open(path, method=method)
            if anonymous.status_code != 401:
                continue  # open to anyone, or refused before authentication
            answer = client.open(path, method=method, headers={"Coder-Session-Token": app_token})
            expected = 302 if rule.endpoint == "v0_devurls.DevURLTicket" else 403
            if expected == 302:
                answer = client.get(
                    path,
                    query_string={"url": "http://web--scoped.apps.test/"},
                    headers={"Coder-Session-Token": app_token},
                )
            assert answer.status_code == expected, (method, path, answer.get_data(as_text=True))
            checked.append((method, rule.rule))
    assert len(checked) > 40  # the authenticated API, not a handful


def test_application_connect_token_reaches_dev_urls(client, upstream, owner):
    user, token = owner
    app_token = _app_token(client, token)
    workspace = make_workspace(user, name="box")
    devurl = make_devurl(workspace, upstream.port, name="web")
    host = f"web--{user.username}.apps.test"
    answer = client.get(
        "/hello", base_url=f"http://{host}", headers={"Coder-Session-Token": app_token}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["path"] == "/hello"
    # and signs a browser in to the dev URL host
    ticket = client.get(
        "/api/v0/devurls/ticket",
        query_string={"url": f"http://{host}/hello"},
        headers={"Coder-Session-Token": app_token},
    )
    assert ticket.status_code == 302
    assert urlsplit(ticket.headers["Location"]).hostname == host
    assert devurl.id


def test_application_connect_token_cannot_mint_a_key_through_the_login_page(client, owner):
    """/internal-auth (coder login's page) mints a key for the session cookie's user: not for
    an application_connect token put in that cookie."""
    user, token = owner
    app_token = _app_token(client, token)
    with db.database.connection_context():
        keys_before = APIKey.select().where(APIKey.user == user.id).count()
    client.set_cookie("coder_session_token", app_token, domain="coder.test")
    answer = client.post(
        "/internal-auth?show_token=true",
        base_url="http://coder.test",
        headers={"Origin": "http://coder.test"},
    )
    assert answer.status_code == 403, answer.get_data(as_text=True)
    with db.database.connection_context():
        assert APIKey.select().where(APIKey.user == user.id).count() == keys_before
