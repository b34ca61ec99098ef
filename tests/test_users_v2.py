"""v2 identity flow: first user, login, tokens, tokenconfig, logout (SPEC §3.1, §6)."""

import datetime as dt

from app import db
from app.models import APIKey, AuditLog, User, UserActivity
from tests.factories import auth_headers, make_token, make_user

STRONG = "Correct-Horse-Battery-9"
SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."
UNKNOWN_USER = '"user" must be an existing uuid or username.'


def _first(client, **overrides):
    body = {"email": "admin@example.com", "username": "admin", "password": STRONG, **overrides}
    return client.post("/api/v2/users/first", json=body)


def test_first_user_login_token_tokenconfig_delete(client):
    assert client.get("/api/v2/users/first").status_code == 404
    weak = _first(client, password="password")
    assert weak.status_code == 400
    assert weak.json["validations"][0]["field"] == "password"
    created = _first(client)
    assert created.status_code == 201
    assert set(created.json) == {"user_id", "organization_id"}
    assert client.get("/api/v2/users/first").status_code == 200
    again = _first(client, email="other@example.com", username="other")
    assert again.status_code == 409

    bad = client.post(
        "/api/v2/users/login", json={"email": "admin@example.com", "password": "nope"}
    )
    assert bad.status_code == 401
    assert bad.json["message"] == "Incorrect email or password."
    login = client.post(
        "/api/v2/users/login", json={"email": "ADMIN@example.com", "password": STRONG}
    )
    assert login.status_code == 201
    session = login.json["session_token"]
    cookie = login.headers["Set-Cookie"]
    assert cookie.startswith(f"coder_session_token={session};")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get_cookie("coder_session_token").value == session
    client.delete_cookie("coder_session_token")  # the header is what is tested from here
    headers = auth_headers(session)

    me = client.get("/api/v2/users/me", headers=headers).json
    assert me["id"] == created.json["user_id"]
    assert me["roles"] == [{"name": "owner", "display_name": "Owner"}]
    assert me["organization_ids"] == [created.json["organization_id"]]

    made = client.post(
        "/api/v2/users/me/keys/tokens",
        json={"token_name": "ci", "lifetime": 3600 * 10**9, "scope": "all"},
        headers=headers,
    )
    assert made.status_code == 201
    token = made.json["key"]
    dup = client.post("/api/v2/users/admin/keys/tokens", json={"token_name": "ci"}, headers=headers)
    assert dup.status_code == 409
    negative = client.post(
        "/api/v2/users/me/keys/tokens", json={"token_name": "n", "lifetime": -1}, headers=headers
    )
    assert negative.status_code == 400
    too_long = client.post(
        "/api/v2/users/me/keys/tokens",
        json={"token_name": "n", "lifetime": 10**9 * 10**12},
        headers=headers,
    )
    assert too_long.status_code == 400
    assert too_long.json["validations"][0]["field"] == "lifetime"

    listed = client.get("/api/v2/users/me/keys/tokens", headers=headers).json
    assert [(k["token_name"], k["username"], k["lifetime_seconds"]) for k in listed] == [
        ("ci", "admin", 3600)
    ]
    key_id = token.split("-")[0]
    by_name = client.get("/api/v2/users/me/keys/tokens/ci", headers=headers)
    assert by_name.status_code == 200 and by_name.json["id"] == key_id
    by_id = client.get(f"/api/v2/users/me/keys/{key_id}", headers=headers)
    assert by_id.json["login_type"] == "token" and by_id.json["scope"] == "all"
    config = client.get("/api/v2/users/me/keys/tokens/tokenconfig", headers=auth_headers(token))
    assert config.json == {"max_token_lifetime": 876600 * 3600 * 10**9}
    unknown = client.get("/api/v2/users/nobody/keys/tokens/tokenconfig", headers=headers)
    assert unknown.status_code == 400 and unknown.json["message"] == UNKNOWN_USER

    assert client.delete(f"/api/v2/users/me/keys/{key_id}", headers=headers).status_code == 204
    gone = client.get("/api/v2/users/me", headers=auth_headers(token))
    assert gone.status_code == 401 and gone.json["detail"] == "API key is invalid."

    out = client.post("/api/v2/users/logout", headers=headers)
    assert out.status_code == 200
    assert "coder_session_token=;" in out.headers["Set-Cookie"]
    assert client.get("/api/v2/users/me", headers=headers).status_code == 401
    with db.database.connection_context():
        actions = [(a.action, a.resource_type, a.status_code) for a in AuditLog.select()]
    assert ("login", "api_key", 401) in actions
    assert ("login", "api_key", 201) in actions
    assert ("logout", "api_key", 200) in actions
    assert ("delete", "api_key", 204) in actions  # the status sent


def test_session_lifetime_and_secure_cookie(make_app):
    app = make_app(CODER_SESSION_DURATION="2h", CODER_SECURE_AUTH_COOKIE="true")
    client = app.test_client()
    make_user(email="s@example.com", password=STRONG)
    login = client.post("/api/v2/users/login", json={"email": "s@example.com", "password": STRONG})
    assert "Secure" in login.headers["Set-Cookie"]
    with db.database.connection_context():
        key = APIKey.get_by_id(login.json["session_token"].split("-")[0])
    assert key.login_type == "password" and key.lifetime_seconds == 7200


def test_https_request_gets_secure_cookie(client):
    make_user(email="h@example.com", password=STRONG)
    login = client.post(
        "/api/v2/users/login",
        json={"email": "h@example.com", "password": STRONG},
        base_url="https://localhost",
    )
    assert "Secure" in login.headers["Set-Cookie"]


def test_unknown_user_is_400_invisible_user_is_404(client):
    member = make_user()
    other = make_user()
    headers = auth_headers(make_token(member))
    response = client.get("/api/v2/users/ghost", headers=headers)
    assert response.status_code == 400 and response.json["message"] == UNKNOWN_USER
    assert client.get(f"/api/v2/users/{other.id}", headers=headers).status_code == 404
    assert (
        client.get(f"/api/v2/users/{other.username}/keys/tokens", headers=headers).status_code
        == 404
    )


def test_suspended_user_cannot_log_in(client):
    make_user(email="z@example.com", password=STRONG, username="zed")
    with db.database.connection_context():
        User.update(status="suspended").where(User.username == "zed").execute()
    response = client.post(
        "/api/v2/users/login", json={"email": "z@example.com", "password": STRONG}
    )
    assert response.status_code == 401


def test_post_keys_lives_a_week_and_first_use_records_activity(client):
    user = make_user()
    headers = auth_headers(make_token(user))
    response = client.post("/api/v2/users/me/keys", headers=headers)
    assert response.status_code == 201
    token = response.json["key"]
    with db.database.connection_context():
        key = APIKey.get_by_id(token.split("-")[0])
        assert key.lifetime_seconds == 7 * 86400
        UserActivity.delete().execute()
    assert client.get("/api/v2/users/me", headers=auth_headers(token)).status_code == 200
    with db.database.connection_context():
        assert UserActivity.select().where(UserActivity.user_id == user.id).count() == 1
        assert APIKey.get_by_id(key.id).last_used > key.created_at


def test_bookkeeping_again_when_the_utc_day_changes(client):
    user = make_user()
    token = make_token(user)
    assert client.get("/api/v2/users/me", headers=auth_headers(token)).status_code == 200
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    yesterday = now - dt.timedelta(days=1)
    with db.database.connection_context():
        APIKey.update(last_used=yesterday).where(APIKey.id == token.split("-")[0]).execute()
        UserActivity.delete().execute()
    assert client.get("/api/v2/users/me", headers=auth_headers(token)).status_code == 200
    with db.database.connection_context():
        assert [a.day for a in UserActivity.select()] == [now.date()]


def test_include_all_only_for_site_admins(client):
    admin = make_user("site-admin")
    member = make_user()
    make_token(member, name="member-token")
    make_token(admin, name="admin-token")
    all_tokens = client.get(
        "/api/v2/users/me/keys/tokens?include_all=true", headers=auth_headers(make_token(admin))
    ).json
    assert {"member-token", "admin-token"} <= {k["token_name"] for k in all_tokens}
    mine = client.get(
        "/api/v2/users/me/keys/tokens?include_all=true", headers=auth_headers(make_token(member))
    ).json
    assert {k["token_name"] for k in mine if k["token_name"]} == {"member-token"}


def test_401_message_everywhere(client):
    for path in ("/api/v2/users/me/keys/tokens", "/api/v2/users/me/keys/tokens/tokenconfig"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.json["message"] == SIGNED_OUT
