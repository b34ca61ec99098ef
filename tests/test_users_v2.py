"""v2 identity flow: first user, login, tokens, tokenconfig, logout (SPEC §3.1, §6)."""

import datetime as dt

from app import db
from app.models import APIKey, AuditLog, User, UserActivity
from app.services import api_keys
from tests import client_types
from tests.factories import TEST_CALLER, auth_headers, make_token, make_user

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
        json={"token_name": "n", "lifetime": 4 * 10**18},  # over 876600h, an int64
        headers=headers,
    )
    assert too_long.status_code == 400
    assert too_long.json["message"] == "Failed to validate create API key request."

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


# ---------------------------------------------------------------- coder/coder's web client


def test_authmethods_anonymous_and_not_a_user(make_app):
    """api.ts getAuthMethods: GET /api/v2/users/authmethods, before anyone logs in."""
    for disabled, enabled in ((False, True), (True, False)):
        client = make_app(CODER_DISABLE_PASSWORD_AUTH=disabled).test_client()
        answer = client.get("/api/v2/users/authmethods")
        assert answer.status_code == 200, answer.json
        client_types.check(client_types.TS_AUTH_METHODS, answer.json)
        assert answer.json == {
            "password": {"enabled": enabled},
            "github": {"enabled": False},
            "oidc": {"enabled": False, "signInText": "", "iconUrl": ""},
        }


def test_fixed_words_under_users_reach_their_own_routes(client):
    """Each fixed word coderd serves under /users/ answers as itself, never as `{user}`."""
    owner = make_user("site-admin", email="o@example.com", password=STRONG)
    headers = auth_headers(make_token(owner))
    first = client.get("/api/v2/users/first", headers=headers)
    assert first.json == {"message": "The initial user has already been created!"}
    methods = client.get("/api/v2/users/authmethods", headers=headers)
    client_types.check(client_types.TS_AUTH_METHODS, methods.json)
    roles = client.get("/api/v2/users/roles", headers=headers)
    assert roles.status_code == 200, roles.json
    assignable = client_types.TS(
        {"name": client_types.STRING, "display_name": client_types.STRING, "assignable": "bool"}
    )
    client_types.check(client_types.Slice(assignable), roles.json)
    assert {(r["name"], r["assignable"]) for r in roles.json} == {
        ("owner", True),
        ("user-admin", True),
        ("template-admin", True),
        ("auditor", True),
    }
    member_roles = client.get("/api/v2/users/roles", headers=auth_headers(make_token(make_user())))
    assert {r["assignable"] for r in member_roles.json} == {False}
    me = client.get("/api/v2/users/me", headers=headers)
    client_types.check(client_types.TS_USER, me.json)
    assert me.json["id"] == owner.id
    wrong = {"email": "o@example.com", "password": "wrong"}
    login = client.post("/api/v2/users/login", json=wrong)
    assert login.json["message"] == "Incorrect email or password."
    out = client.post("/api/v2/users/logout", headers=headers)
    assert out.json == {"message": "Logged out!"}


def test_available_experiments(client):
    """api.ts getAvailableExperiments (2025): GET /api/v2/experiments/available."""
    headers = auth_headers(make_token(make_user()))
    answer = client.get("/api/v2/experiments/available", headers=headers)
    assert answer.status_code == 200, answer.json
    client_types.check(client_types.TS_AVAILABLE_EXPERIMENTS, answer.json)
    assert answer.json == {"safe": []}  # coderd's ExperimentsSafe is empty in both references
    assert client.get("/api/v2/experiments/available").status_code == 401


def test_a_user_never_seen_has_the_zero_time(client):
    admin = make_user("site-admin")
    never = make_user()
    headers = auth_headers(make_token(admin))
    answer = client.get(f"/api/v2/users/{never.id}", headers=headers)
    client_types.check(client_types.TS_USER, answer.json)
    assert answer.json["last_seen_at"] == client_types.GO_ZERO_TIME
    me = client.get("/api/v2/users/me", headers=headers).json
    assert me["last_seen_at"] != client_types.GO_ZERO_TIME


def test_post_keys_makes_a_session_key_not_a_token(client):
    """api.ts/codersdk CreateAPIKey: POST /api/v2/users/{user}/keys with no body."""
    make_user(email="k@example.com", password=STRONG, username="kay")
    login = client.post("/api/v2/users/login", json={"email": "k@example.com", "password": STRONG})
    client.delete_cookie("coder_session_token")
    by_session = auth_headers(login.json["session_token"])
    by_token = auth_headers(client_types_token(client, by_session))
    for headers in (by_session, by_token):
        made = client.post("/api/v2/users/me/keys", headers=headers)
        assert made.status_code == 201, made.json
        client_types.check(client_types.TS_GENERATE_API_KEY_RESPONSE, made.json)
        key_id = made.json["key"].split("-")[0]
        key = client.get(f"/api/v2/users/me/keys/{key_id}", headers=headers)
        client_types.check(client_types.TS_API_KEY, key.json)
        assert (key.json["login_type"], key.json["token_name"]) == ("password", "")
        assert key.json["lifetime_seconds"] == 7 * 86400
        tokens = client.get("/api/v2/users/me/keys/tokens", headers=headers).json
        assert key_id not in [t["id"] for t in tokens]
        assert [t["token_name"] for t in tokens] == ["cli"]


def client_types_token(client, headers) -> str:
    made = client.post("/api/v2/users/me/keys/tokens", json={"token_name": "cli"}, headers=headers)
    assert made.status_code == 201, made.json
    return made.json["key"]


def test_logout_deletes_the_application_connect_keys(client):
    user = make_user(email="a@example.com", password=STRONG)
    with db.database.connection_context():
        app_key = api_keys.create(
            TEST_CALLER, user, lifetime_seconds=3600, scope="application_connect"
        ).token
    other = make_token(user, name="kept")
    login = client.post("/api/v2/users/login", json={"email": "a@example.com", "password": STRONG})
    client.delete_cookie("coder_session_token")
    # it authenticates (a 403: its scope reaches dev URLs only, not the API) until the logout
    assert client.get("/api/v2/users/me", headers=auth_headers(app_key)).status_code == 403
    out = client.post("/api/v2/users/logout", headers=auth_headers(login.json["session_token"]))
    assert out.status_code == 200
    gone = client.get("/api/v2/users/me", headers=auth_headers(app_key))
    assert gone.status_code == 401 and gone.json["detail"] == "API key is invalid."
    assert client.get("/api/v2/users/me", headers=auth_headers(other)).status_code == 200


LIFETIME_REFUSED = "Failed to validate create API key request."


def test_token_lifetime_in_nanoseconds_and_coderds_words(make_app):
    """api.ts createToken: {"lifetime": ns, "scope": "all", "token_name": ...}."""
    client = make_app(CODER_MAX_TOKEN_LIFETIME="1h").test_client()
    headers = auth_headers(make_token(make_user()))
    path = "/api/v2/users/me/keys/tokens"

    def create(lifetime, name="t"):
        body = {"lifetime": lifetime, "scope": "all", "token_name": name}
        return client.post(path, json=body, headers=headers)

    hour = 3600 * 10**9
    over = create(hour + 1)
    assert over.status_code == 400
    client_types.check(client_types.TS_RESPONSE, over.json)
    assert over.json == {"message": LIFETIME_REFUSED, "detail": "lifetime must be less than 1h0m0s"}
    negative = create(-1)
    assert negative.json == {
        "message": LIFETIME_REFUSED,
        "detail": "lifetime must be positive number greater than 0",
    }
    for not_int64 in (1.5, 2.0, 1e9, "5", True, 2**63):
        refused = create(not_int64)
        assert refused.status_code == 400, not_int64
        client_types.check(client_types.TS_RESPONSE, refused.json)
        assert refused.json["message"] == "Request body must be valid JSON."
        assert refused.json["validations"][0]["field"] == "lifetime"
    exact = create(hour, name="ci")
    assert exact.status_code == 201, exact.json
    duplicate = create(hour, name="ci")
    assert duplicate.status_code == 409
    client_types.check(client_types.TS_RESPONSE, duplicate.json)
    assert duplicate.json == {
        "message": 'A token with name "ci" already exists.',
        "validations": [
            {"field": "name", "detail": "This value is already in use and should be unique."}
        ],
    }
    listed = client.get(path, headers=headers).json
    assert ("ci", 3600) in [(t["token_name"], t["lifetime_seconds"]) for t in listed]
