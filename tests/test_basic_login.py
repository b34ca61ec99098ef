"""The classic CLI's password login (POST /auth/basic/login) and its page (/internal-auth)."""

from __future__ import annotations

import pytest

from app import db
from app.models import APIKey, AuditLog
from app.services import users as users_service
from app.services.context import Caller
from tests.factories import make_user

PASSWORD = "Correct-Horse-Battery-9"
LOGIN = "/auth/basic/login"
PAGE = "/internal-auth?show_token=true"


def _logins():
    with db.database.connection_context():
        return [
            (e.status_code, e.resource_target)
            for e in AuditLog.select()
            .where(AuditLog.action == "login")
            .order_by(AuditLog.time, AuditLog.id)
        ]


def test_a_correct_pair_gets_a_session_token_and_is_audited(client):
    make_user(username="alice", password=PASSWORD)
    response = client.post(LOGIN, json={"email": "Alice@Example.com", "password": PASSWORD})
    assert response.status_code == 200, response.json
    token = response.json["session_token"]
    key_id, secret = token.split("-")
    assert (len(key_id), len(secret)) == (10, 22)
    assert "Set-Cookie" not in response.headers
    me = client.get("/api/v0/users/me", headers={"Session-Token": token})
    assert me.status_code == 200 and me.json["username"] == "alice"
    assert _logins() == [(200, "alice")]  # the status sent
    with db.database.connection_context():
        assert APIKey.get_by_id(key_id).login_type == "password"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "alice@example.com", "password": "wrong"},
        {"email": "nobody@example.com", "password": PASSWORD},
    ],
)
def test_a_wrong_pair_is_a_401_in_the_v0_envelope(client, body):
    make_user(username="alice", password=PASSWORD)
    response = client.post(LOGIN, json=body)
    assert response.status_code == 401
    assert response.json == {
        "error": {"msg": "Incorrect email or password.", "code": "unauthorized", "details": None}
    }
    assert [status for status, _ in _logins()] == [401]


def test_a_suspended_user_cannot_log_in(client):
    alice = make_user(username="alice", password=PASSWORD)
    admin = make_user("site-admin", username="admin")
    with db.database.connection_context():
        users_service.update(Caller(user=admin), alice, {"status": "suspended"})
    response = client.post(LOGIN, json={"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 401
    assert "suspended" in response.json["error"]["msg"]


@pytest.mark.parametrize("body", [{}, {"email": "a@example.com"}, {"password": "x"}, []])
def test_incomplete_bodies_are_400(client, body):
    response = client.post(LOGIN, json=body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"


def test_every_login_path_spends_one_budget(make_app):
    app = make_app(CODER_DANGEROUS_DISABLE_RATE_LIMITS=False, CODER_API_RATE_LIMIT=0)
    client = app.test_client()
    paths = ("/api/v2/users/login", LOGIN, "/internal-auth")
    statuses = [client.post(paths[n % 3], json={}).status_code for n in range(60)]
    assert 429 not in statuses
    for path in paths:
        assert client.post(path, json={}).status_code == 429, path


def test_the_page_signs_in_from_its_own_origin_only(client):
    make_user(username="alice", password=PASSWORD)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.mimetype == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert 'name="password"' in page.get_data(as_text=True)
    form = {"email": "alice@example.com", "password": PASSWORD}
    # No Origin (nor Referer), another origin, `null`: refused before any login is tried.
    for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"}):
        response = client.post(PAGE, data=form, headers=headers)
        assert response.status_code == 403, headers
        assert "coder_session_token" not in response.headers.get("Set-Cookie", "")
    assert _logins() == []
    response = client.post(PAGE, data=form, headers={"Origin": "http://localhost"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert 'id="token"' in text and "coder_session_token=" in response.headers["Set-Cookie"]
    assert _logins() == [(200, "alice")]
    with db.database.connection_context():
        names = [k.token_name for k in APIKey.select().where(APIKey.login_type == "token")]
    assert len(names) == 1 and names[0].startswith("coder-login-")

    # Signed in by the cookie: the page offers a key; creating one needs our origin too.
    assert "Signed in as" in client.get(PAGE).get_data(as_text=True)
    refused = client.post(PAGE, data={"create": "1"}, headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403
    created = client.post(PAGE, data={"create": "1"}, headers={"Origin": "http://localhost"})
    assert created.status_code == 200 and 'id="token"' in created.get_data(as_text=True)


def test_the_page_shows_a_wrong_pair_on_the_form(client):
    make_user(username="alice", password=PASSWORD)
    response = client.post(
        PAGE,
        data={"email": "alice@example.com", "password": "wrong"},
        headers={"Origin": "http://localhost"},
    )
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "Incorrect email or password." in text and 'value="alice@example.com"' in text
    assert 'id="token"' not in text
    empty = client.post(PAGE, data={"email": ""}, headers={"Origin": "http://localhost"})
    assert empty.status_code == 400
    signed_out = client.post(PAGE, data={"create": "1"}, headers={"Origin": "http://localhost"})
    assert signed_out.status_code == 401
