"""v0 API keys: create for yourself and (site managers) for others, list, get, regen, delete."""

from app import db
from app.models import APIKey
from tests import client_types
from tests.factories import auth_headers, make_token, make_user


def _v0(token):
    return auth_headers(token, "v0")


def test_api_key_lifecycle(client):
    user = make_user()
    headers = _v0(make_token(user))
    created = client.post("/api/v0/api-keys/me", json={"name": "laptop"}, headers=headers)
    assert created.status_code == 201
    token = created.json["key"]
    key_id = token.split("-")[0]
    with db.database.connection_context():
        key = APIKey.get_by_id(key_id)
    assert key.login_type == "token" and not key.application
    assert key.lifetime_seconds == 876600 * 3600
    dup = client.post("/api/v0/api-keys/me", json={"name": "laptop"}, headers=headers)
    assert dup.status_code == 409
    listed = client.get(f"/api/v0/api-keys/{user.id}", headers=headers).json
    assert {k["name"] for k in listed} >= {"laptop"}
    one = client.get(f"/api/v0/api-keys/me/{key_id}", headers=headers)
    assert one.status_code == 200
    assert set(one.json) == {"id", "name", "application", "user_id", "last_used"}
    regen = client.post(f"/api/v0/api-keys/me/{key_id}/regen", headers=headers)
    assert regen.status_code == 200
    new_token = regen.json["key"]
    assert new_token.startswith(key_id + "-") and new_token != token
    assert client.get("/api/v0/users/me", headers=_v0(token)).status_code == 401
    assert client.get("/api/v2/users/me", headers=auth_headers(new_token)).status_code == 200
    assert client.delete(f"/api/v0/api-keys/me/{key_id}", headers=headers).status_code == 204
    assert client.get("/api/v0/users/me", headers=_v0(new_token)).status_code == 401
    assert client.get(f"/api/v0/api-keys/me/{key_id}", headers=headers).status_code == 404


def test_who_may_mint_for_others(client):
    target = make_user()
    for role, status in (
        ("site-manager", 201),
        ("site-admin", 201),
        ("site-auditor", 404),
        (None, 404),
    ):
        caller = make_user(*([role] if role else []))
        response = client.post(
            f"/api/v0/api-keys/{target.id}",
            data=f'{{"name": "by-{caller.username}"}}',
            headers=_v0(make_token(caller)),
        )
        assert response.status_code == status, role
        if status == 201:
            key = response.json["key"]
            assert client.get("/api/v0/users/me", headers=_v0(key)).json["id"] == target.id
            assert client.get("/api/v2/users/me", headers=auth_headers(key)).json["id"] == target.id


def test_a_new_key_was_never_used_until_it_is(client):
    """coder-sdk's APIToken.LastUsed is a time.Time: never used is its zero time."""
    user = make_user()
    headers = _v0(make_token(user))
    created = client.post(f"/api/v0/api-keys/{user.id}", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201
    token = created.json["key"]
    key_id = token.split("-")[0]
    listed = client.get(f"/api/v0/api-keys/{user.id}", headers=headers)
    [fresh] = [key for key in listed.json if key["id"] == key_id]
    client_types.check(client_types.GO_API_TOKEN, fresh)
    assert fresh["last_used"] == client_types.GO_ZERO_TIME
    one = client.get(f"/api/v0/api-keys/{user.id}/{key_id}", headers=headers)
    assert one.json["last_used"] == client_types.GO_ZERO_TIME

    assert client.get("/api/v0/users/me", headers=_v0(token)).status_code == 200
    used = client.get(f"/api/v0/api-keys/{user.id}/{key_id}", headers=headers).json
    client_types.check(client_types.GO_API_TOKEN, used)
    assert used["last_used"] != client_types.GO_ZERO_TIME
    with db.database.connection_context():
        key = APIKey.get_by_id(key_id)
    assert used["last_used"] == key.last_used.isoformat(timespec="microseconds") + "Z"
