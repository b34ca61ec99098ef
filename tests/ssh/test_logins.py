"""Who may log in to the SSH gateway: login names, keys, users' and workspaces' states."""

from __future__ import annotations

import base64

import pytest

from app import db
from app.models import AuditLog, UserActivity, Workspace
from app.models.resource_pools import BUILT_IN_ID
from app.services import ssh_keys
from app.services import users as users_service
from app.services.context import Caller
from app.ssh import logins
from tests.devurls.conftest import make_workspace
from tests.factories import make_token, make_user

SECRET = "test-secret-key-not-for-production"


def keyed_user(username, *roles):
    return make_user(*roles, username=username, keygen=ssh_keys.Keygen("ed25519", SECRET))


def blob(user) -> bytes:
    return base64.b64decode(user.ssh_public_key.split()[1])


def test_login_names_name_a_workspace_case_insensitively(app):
    alice = keyed_user("alice")
    dev = make_workspace(alice, name="dev")
    hyphen = keyed_user("al-ice")
    web = make_workspace(hyphen, name="web-1")
    assert logins.authorize("alice-dev", blob(alice)).workspace_id == dev.id
    assert logins.authorize("ALICE-Dev", blob(alice)).workspace_id == dev.id
    assert logins.authorize("al-ice-web-1", blob(hyphen)).workspace_id == web.id
    for name in ("alice", "alice-", "-dev", "alice-nope", "bob-dev", "", "alice-dev\x00"):
        assert logins.authorize(name, blob(alice)) is None, name


def test_only_the_owners_current_key_of_an_active_user_logs_in(app):
    owner = keyed_user("owner")
    other = keyed_user("other")
    workspace = make_workspace(owner, name="box", status="OFF")
    login = logins.authorize("owner-box", blob(owner))
    assert login == logins.Login(owner.id, "owner", workspace.id, "box", workspace.organization_id)
    assert logins.authorize("owner-box", blob(other)) is None
    assert logins.authorize("owner-box", b"") is None
    assert logins.authorize("other-box", blob(other)) is None

    # A stopped workspace: the login stands, but no channel opens.
    with pytest.raises(logins.Refused, match=r'"box" is not running \(OFF\)'):
        logins.target(login, "owner-box", blob(owner), "host")
    with db.database.connection_context():
        Workspace.update(container_status="ON", container_id="c1").execute()
    # The target names the workspace's resource pool: the gateway runs commands on its engine.
    assert logins.target(login, "owner-box", blob(owner), "host") == logins.Target(
        "c1", "127.0.0.1", BUILT_IN_ID
    )
    assert logins.target(login, "owner-box", blob(owner), "bridge") == logins.Target(
        "c1", "", BUILT_IN_ID
    )
    with db.database.connection_context():
        Workspace.update(network_address="10.88.0.7").execute()
    assert logins.target(login, "owner-box", blob(owner), "bridge").address == "10.88.0.7"

    # A regenerated key ends the old one's access.
    old = blob(owner)
    with db.database.connection_context():
        users_service.regenerate_ssh_key(
            Caller(user=owner), owner, ssh_keys.Keygen("ed25519", SECRET)
        )
        owner = users_service.find(owner.id)
    assert not logins.still_allowed(login, "owner-box", old)
    assert logins.authorize("owner-box", old) is None
    assert logins.still_allowed(login, "owner-box", blob(owner))

    # A suspended user neither logs in nor keeps access.
    admin = make_user("site-admin", username="admin")
    with db.database.connection_context():
        users_service.update(Caller(user=admin), owner, {"status": "suspended"})
    assert logins.authorize("owner-box", blob(owner)) is None
    assert not logins.still_allowed(login, "owner-box", blob(owner))
    with pytest.raises(logins.Refused, match="has ended"):
        logins.target(login, "owner-box", blob(owner), "host")


def test_a_connection_is_audited_and_marks_its_workspace_used(app):
    owner = keyed_user("owner")
    workspace = make_workspace(owner, name="box")
    login = logins.authorize("owner-box", blob(owner))
    logins.audit_connect(login, "127.0.0.1", "SSH-2.0-OpenSSH_9.2p1", "conn-1")
    session = logins.activity_session(login)
    session.beat()
    with db.database.connection_context():
        entry = AuditLog.get(AuditLog.action == "connect")
        assert (entry.user_id, entry.resource_type, entry.resource_id) == (
            owner.id,
            "environment",
            workspace.id,
        )
        assert (entry.resource_target, entry.ip, entry.request_id) == ("box", "127.0.0.1", "conn-1")
        assert entry.user_agent == "SSH-2.0-OpenSSH_9.2p1"
        used = Workspace.get_by_id(workspace.id)
        assert used.last_connection_at is not None and used.last_opened_at is not None
        assert UserActivity.get(UserActivity.user_id == owner.id).day == used.last_opened_at.date()
    session.close()
    with db.database.connection_context():
        assert Workspace.get_by_id(workspace.id).last_connection_at > used.last_connection_at
    admin = make_token(make_user("site-admin", username="admin"))
    response = app.test_client().get(
        "/api/v0/audit?action=connect", headers={"Session-Token": admin}
    )
    assert response.status_code == 200, response.json
    assert [e["resource_target"] for e in response.json] == ["box"]


def test_key_matching_is_by_the_key_not_the_comment():
    user_line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEzgzhZ1c3JwNTAqe0rEqkrbT3RHwWDhuSo/fSQE0w+w"
    key = base64.b64decode(user_line.split()[1])
    assert logins.key_matches(user_line + " comment", key)
    assert not logins.key_matches(user_line, key[:-1] + b"x")
    assert not logins.key_matches("", key)
    assert not logins.key_matches("ssh-ed25519 not*base64", key)
