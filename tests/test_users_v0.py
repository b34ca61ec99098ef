"""v0 users: the seed's calls as written, changes, passwords, SSH keys, deletion."""

import json

from app import db
from app.models import APIKey, AuditLog, Organization, User
from app.services import passwords
from tests.factories import auth_headers, make_token, make_user

STRONG = "Correct-Horse-Battery-9"


def _v0(token):
    return auth_headers(token, "v0")


def _audit(action, resource_type, resource_id=None):
    with db.database.connection_context():
        query = AuditLog.select().where(
            (AuditLog.action == action) & (AuditLog.resource_type == resource_type)
        )
        if resource_id is not None:
            query = query.where(AuditLog.resource_id == resource_id)
        return list(query)


def _make_org(name="engineering"):
    with db.database.connection_context():
        return Organization.create(name=name).id


def test_seed_create_user_sshkey_and_token(client):
    """The seed's curl calls, by a site manager, with the bodies as written."""
    manager = make_user("site-manager")
    token = make_token(manager)
    org_id = _make_org()
    body = (
        '{\n  "email": "bob@example.com",\n  "login_type": "built-in",\n'
        '  "name": "Bob Barker",\n  "password": "password",\n  "temporary_password": true,\n'
        '  "username": "bbarker",\n  "organizations": ["default","' + org_id + '"]    \n}'
    )
    response = client.post(
        "/api/v0/users",
        data=body,
        headers={**_v0(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.json
    created = response.json
    assert created["username"] == "bbarker"
    assert created["temporary_password"] is True
    assert created["login_type"] == "built-in"
    assert created["roles"] == ["site-member"]
    assert "password" not in created and "scrypt" not in json.dumps(created)
    user_id = created["id"]
    with db.database.connection_context():
        user = User.get_by_id(user_id)
        assert {m.organization_id for m in user.memberships} == {
            Organization.get(Organization.is_default == True).id,  # noqa: E712
            org_id,
        }
        assert passwords.matches(user.password_hash, "password")
        assert user.password_hash.startswith("scrypt:")
    assert len(_audit("create", "user", user_id)) == 1

    response = client.get(f"/api/v0/users/{user_id}/sshkey", headers=_v0(token))
    assert response.status_code == 200
    assert response.json["public_key"].startswith("ssh-ed25519 ")
    assert "private_key" not in response.json

    # No Content-Type at all, as the Coder CLI sends it.
    response = client.post(
        f"/api/v0/api-keys/{user_id}",
        data='{"name": "my-session-token"}',
        headers=_v0(token),
    )
    assert response.status_code == 201, response.json
    key = response.json["key"]
    assert len(_audit("create", "api_key")) >= 1

    # The user still has a temporary password: they may read themselves, nothing else.
    me = client.get("/api/v0/users/me", headers=_v0(key))
    assert me.status_code == 200 and me.json["id"] == user_id
    assert client.get("/api/v2/users/me", headers=auth_headers(key)).json["id"] == user_id
    refused = client.get(f"/api/v0/api-keys/{user_id}", headers=_v0(key))
    assert refused.status_code == 403
    assert "temporary password" in refused.json["error"]["msg"]
    changed = client.patch(
        "/api/v0/users/me",
        json={"old_password": "password", "password": STRONG},
        headers=_v0(key),
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["temporary_password"] is False
    listed = client.get(f"/api/v0/api-keys/{user_id}", headers=_v0(key))
    assert listed.status_code == 200
    assert [k["name"] for k in listed.json] == ["my-session-token"]
    assert client.get("/api/v2/users/me", headers=auth_headers(key)).status_code == 200


def test_create_rejects_bad_input_and_changes_nothing(client):
    admin = make_user("site-admin")
    headers = _v0(make_token(admin))
    make_user(username="Taken")
    with db.database.connection_context():
        before = User.select().count()
    cases = [
        ({"email": "a@example.com", "username": "taken", "password": STRONG}, 409),
        ({"email": "not-an-email", "username": "newbie", "password": STRONG}, 400),
        ({"email": "b@example.com", "username": "-bad-", "password": STRONG}, 400),
        (
            {"email": "c@example.com", "username": "c", "password": STRONG, "roles": ["boss"]},
            400,
        ),
        ({"email": "d@example.com", "username": "d", "password": "short"}, 400),
        (
            {
                "email": "e@example.com",
                "username": "e",
                "password": "short",
                "temporary_password": True,
            },
            400,
        ),
        ({"email": "f@example.com", "username": "f", "password": "password"}, 400),
        (
            {"email": "g@example.com", "username": "g", "password": STRONG, "organizations": ["x"]},
            400,
        ),
    ]
    for body, status in cases:
        response = client.post("/api/v0/users", json=body, headers=headers)
        assert response.status_code == status, (body, response.json)
        assert response.json["error"]["code"] in ("bad_request", "conflict")
    response = client.post(
        "/api/v0/users",
        json={"email": "d@example.com", "username": "d", "password": "short"},
        headers=headers,
    )
    assert response.json["error"]["details"][0]["field"] == "password"
    with db.database.connection_context():
        assert User.select().count() == before


def test_member_sees_only_themselves(client):
    member = make_user()
    other = make_user("site-admin")
    headers = _v0(make_token(member))
    listed = client.get("/api/v0/users", headers=headers)
    assert [u["id"] for u in listed.json] == [member.id]
    assert client.get(f"/api/v0/users/{other.id}", headers=headers).status_code == 404
    assert client.get(f"/api/v0/users/{member.username}", headers=headers).status_code == 200


def test_patch_null_is_unchanged_and_own_password_needs_old(client):
    user = make_user(password=STRONG, name="Ann")
    headers = _v0(make_token(user))
    response = client.patch("/api/v0/users/me", json={"name": None, "email": None}, headers=headers)
    assert response.status_code == 200
    assert response.json["name"] == "Ann"
    wrong = client.patch(
        "/api/v0/users/me", json={"password": "Another-Good-Pass-7"}, headers=headers
    )
    assert wrong.status_code == 400
    assert wrong.json["error"]["details"][0]["field"] == "old_password"
    weak = client.patch(
        "/api/v0/users/me", json={"password": "abcdefgh", "old_password": STRONG}, headers=headers
    )
    assert weak.status_code == 400
    ok = client.patch(
        "/api/v0/users/me",
        json={"password": "Another-Good-Pass-7", "old_password": STRONG},
        headers=headers,
    )
    assert ok.status_code == 200
    with db.database.connection_context():
        assert passwords.matches(User.get_by_id(user.id).password_hash, "Another-Good-Pass-7")
    entries = _audit("write", "user", user.id)
    assert entries and "******" in entries[-1].diff
    assert "Another-Good-Pass-7" not in entries[-1].diff


def test_roles_only_by_site_admin(client):
    manager = make_user("site-manager")
    target = make_user()
    headers = _v0(make_token(manager))
    response = client.patch(
        f"/api/v0/users/{target.id}", json={"roles": ["site-auditor"]}, headers=headers
    )
    assert response.status_code == 403
    admin_headers = _v0(make_token(make_user("site-admin")))
    response = client.patch(
        f"/api/v0/users/{target.id}", json={"roles": ["site-auditor"]}, headers=admin_headers
    )
    assert response.status_code == 200
    assert response.json["roles"] == ["site-auditor", "site-member"]
    bad = client.patch(
        f"/api/v0/users/{target.id}", json={"roles": ["emperor"]}, headers=admin_headers
    )
    assert bad.status_code == 400


def test_suspend_and_delete_stop_tokens_at_once(client):
    admin = make_user("site-admin")
    headers = _v0(make_token(admin))
    victim = make_user()
    victim_token = make_token(victim)
    assert client.get("/api/v0/users/me", headers=_v0(victim_token)).status_code == 200
    response = client.patch(
        f"/api/v0/users/{victim.id}", json={"status": "suspended"}, headers=headers
    )
    assert response.status_code == 200
    assert client.get("/api/v0/users/me", headers=_v0(victim_token)).status_code == 401
    client.patch(f"/api/v0/users/{victim.id}", json={"status": "active"}, headers=headers)
    assert client.get("/api/v0/users/me", headers=_v0(victim_token)).status_code == 200
    assert client.delete("/api/v0/users/me", headers=headers).status_code == 403
    assert client.delete(f"/api/v0/users/{victim.id}", headers=headers).status_code == 204
    assert client.get("/api/v0/users/me", headers=_v0(victim_token)).status_code == 401
    with db.database.connection_context():
        assert APIKey.select().where(APIKey.user == victim.id).count() == 0
    assert len(_audit("delete", "user", victim.id)) == 1
    assert client.get(f"/api/v0/users/{victim.id}", headers=headers).status_code == 404


def test_ssh_key_owner_sees_private_key_encrypted_at_rest(make_app):
    app = make_app(CODER_SSH_KEYGEN_ALGORITHM="ecdsa")
    client = app.test_client()
    user = make_user()
    headers = _v0(make_token(user))
    first = client.get("/api/v0/users/me/sshkey", headers=headers).json
    assert first["public_key"].startswith("ecdsa-sha2-nistp256 ")
    assert first["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    with db.database.connection_context():
        stored = User.get_by_id(user.id)
    assert stored.ssh_private_key_encrypted
    assert "PRIVATE KEY" not in stored.ssh_private_key_encrypted
    again = client.get("/api/v0/users/me/sshkey", headers=headers).json
    assert again == first
    regenerated = client.post("/api/v0/users/me/sshkey", headers=headers)
    assert regenerated.status_code == 200
    assert regenerated.json["public_key"] != first["public_key"]
    assert client.get("/api/v0/users/me", headers=headers).json["key_regenerated_at"]
    other = make_user()
    assert client.post(f"/api/v0/users/{other.id}/sshkey", headers=headers).status_code == 404


def test_nul_characters_are_refused_not_500(client):
    headers = _v0(make_token(make_user("site-admin")))
    body = {"email": "n@example.com", "username": "a\u0000b", "password": STRONG}
    assert client.post("/api/v0/users", json=body, headers=headers).status_code == 400
    assert client.get("/api/v0/users/a%00b", headers=headers).status_code == 404
    tokens = client.get("/api/v2/users/me/keys/tokens?include_all=%00", headers=headers)
    assert tokens.status_code == 400


def _login(client, user, password):
    answer = client.post("/api/v2/users/login", json={"email": user.email, "password": password})
    assert answer.status_code == 201, answer.json
    client.delete_cookie("coder_session_token")
    return answer.json["session_token"]


def _works(client, token):
    return client.get("/api/v2/users/me", headers={"Coder-Session-Token": token}).status_code


def test_password_change_ends_the_users_other_sessions(client):
    """Issue 14 finding 13: after a password change the user's other sessions kept working.
    They end (tokens too, as coderd's); the session that made the change is kept."""
    user = make_user(password=STRONG)
    laptop = _login(client, user, STRONG)
    stolen = _login(client, user, STRONG)
    token = make_token(user, name="cli")
    changed = client.patch(
        "/api/v0/users/me",
        json={"password": "Another-Good-Pass-7", "old_password": STRONG},
        headers=_v0(laptop),
    )
    assert changed.status_code == 200, changed.json
    assert _works(client, laptop) == 200
    assert _works(client, stolen) == 401
    assert _works(client, token) == 401
    assert _works(client, _login(client, user, "Another-Good-Pass-7")) == 200


def test_password_reset_by_an_admin_ends_every_session_of_the_user(client):
    user = make_user(password=STRONG)
    session = _login(client, user, STRONG)
    admin = make_user("site-admin")
    admin_token = make_token(admin)
    admin_other = make_token(admin)
    reset = client.patch(
        f"/api/v0/users/{user.id}",
        json={"password": "Temporary-1", "temporary_password": True},
        headers=_v0(admin_token),
    )
    assert reset.status_code == 200, reset.json
    assert _works(client, session) == 401
    with db.database.connection_context():
        assert APIKey.select().where(APIKey.user == user.id).count() == 0
    assert _works(client, admin_token) == _works(client, admin_other) == 200


def test_users_cannot_set_their_own_login_type(client):
    """Issue 14 finding 17: a user could change how they sign in (`login_type`)."""
    user = make_user(password=STRONG)
    admin = make_user("site-admin")
    for who, headers in ((user, _v0(make_token(user))), (admin, _v0(make_token(admin)))):
        answer = client.patch("/api/v0/users/me", json={"login_type": "oidc"}, headers=headers)
        assert answer.status_code == 403, answer.json
        same = client.patch(
            "/api/v0/users/me", json={"login_type": "built-in", "name": "N"}, headers=headers
        )
        assert same.status_code == 200  # a client echoing the user back changes nothing
        with db.database.connection_context():
            assert User.get_by_id(who.id).login_type == "built-in"
    by_admin = client.patch(
        f"/api/v0/users/{user.id}", json={"login_type": "oidc"}, headers=_v0(make_token(admin))
    )
    assert by_admin.status_code == 200 and by_admin.json["login_type"] == "oidc"
