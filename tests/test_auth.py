"""Session tokens: where they are read from, and Coder's exact 401 answers (SPEC §3.1)."""

import datetime as dt

import pytest

from app import db, tokens
from app.models import APIKey, User, UserActivity
from tests.factories import auth_headers, make_token, make_user

SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."


def test_token_format():
    key_id, secret, hashed = tokens.generate()
    assert len(key_id) == 10 and len(secret) == 22
    assert key_id.isalnum() and secret.isalnum()
    assert tokens.split(f"{key_id}-{secret}") == (key_id, secret)
    assert tokens.secret_matches(secret, hashed)
    assert not tokens.secret_matches(secret[:-1] + ("a" if secret[-1] != "a" else "b"), hashed)


def test_only_the_hash_is_stored(app):
    user = make_user()
    token = make_token(user)
    key_id, secret = token.split("-")
    with db.database.connection_context():
        key = APIKey.get_by_id(key_id)
    assert key.hashed_secret == tokens.hash_secret(secret)
    assert secret not in key.hashed_secret


@pytest.mark.parametrize(
    ("how"),
    ["cookie", "query", "Coder-Session-Token", "Session-Token"],
)
def test_token_sources(client, how):
    user = make_user()
    token = make_token(user)
    if how == "cookie":
        client.set_cookie("coder_session_token", token)
        response = client.get("/api/v2/users/me")
    elif how == "query":
        response = client.get(f"/api/v2/users/me?coder_session_token={token}")
    else:
        response = client.get("/api/v2/users/me", headers={how: token})
    assert response.status_code == 200
    assert response.json["id"] == user.id


def test_cookie_wins_over_header(client):
    alice, bob = make_user(), make_user()
    client.set_cookie("coder_session_token", make_token(alice))
    response = client.get("/api/v2/users/me", headers=auth_headers(make_token(bob)))
    assert response.json["id"] == alice.id


def _detail(client, token=None):
    headers = auth_headers(token) if token is not None else {}
    response = client.get("/api/v2/users/me", headers=headers)
    assert response.status_code == 401
    assert response.json["message"] == SIGNED_OUT
    return response.json["detail"]


def test_401_details(app, client):
    user = make_user()
    token = make_token(user)
    key_id, secret = token.split("-")
    assert _detail(client) == 'Cookie "coder_session_token" or query parameter must be provided.'
    assert _detail(client, "garbage").startswith("Invalid API key format: ")
    assert _detail(client, f"{'x' * 10}-{secret}") == "API key is invalid."
    assert _detail(client, f"{key_id}-{'y' * 22}") == "API key secret is invalid."
    with db.database.connection_context():
        past = dt.datetime(2020, 1, 2, 3, 4, 5)
        APIKey.update(expires_at=past).where(APIKey.id == key_id).execute()
    assert _detail(client, token) == 'API key expired at "2020-01-02T03:04:05.000000Z".'


def test_v0_401_envelope(client):
    response = client.get("/api/v0/users/me")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_suspended_user_is_refused_at_once(app, client):
    user = make_user()
    token = make_token(user)
    assert client.get("/api/v2/users/me", headers=auth_headers(token)).status_code == 200
    with db.database.connection_context():
        User.update(status="suspended").where(User.id == user.id).execute()
    response = client.get("/api/v2/users/me", headers=auth_headers(token))
    assert response.status_code == 401
    assert response.json["message"] == (
        'User is not active (status = "suspended"). Contact an admin to reactivate your account.'
    )


def test_bookkeeping_at_most_hourly_and_slides_expiry(app, client):
    user = make_user()
    token = make_token(user, lifetime_seconds=3 * 3600)
    key_id = token.split("-")[0]
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=2)
    with db.database.connection_context():
        APIKey.update(last_used=old, expires_at=old + dt.timedelta(hours=3)).where(
            APIKey.id == key_id
        ).execute()
    assert client.get("/api/v2/users/me", headers=auth_headers(token)).status_code == 200
    with db.database.connection_context():
        key = APIKey.get_by_id(key_id)
        first_used = key.last_used
        assert first_used > old
        assert key.expires_at > first_used + dt.timedelta(hours=2, minutes=59)
        assert User.get_by_id(user.id).last_seen_at is not None
        assert UserActivity.select().where(UserActivity.user_id == user.id).count() == 1
    assert client.get("/api/v2/users/me", headers=auth_headers(token)).status_code == 200
    with db.database.connection_context():
        assert APIKey.get_by_id(key_id).last_used == first_used
